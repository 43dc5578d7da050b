"""GitHub Actions: sealed-box secrets, workflow dispatch, and runs executed by a hook.

Secrets are encrypted by the caller with the repo's X25519 public key (libsodium sealed
box, as GitHub requires); the simulator opens them to prove they are valid and keeps
the plaintext in memory only, for the runs. A dispatch creates a queued run named by
the workflow's `run-name`, then a worker thread checks the repo out, calls the
`run_workflow` hook, stores its log with the secrets masked, and sends the
`workflow_run` webhooks `requested`, `in_progress` and `completed` in that order.
Without a hook the run stays queued, as on GitHub when no runner picks it up.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, SealedBox

from ..clock import iso_seconds, utc_now
from ..hooks import RunWorkflowHook, WorkflowRunContext
from .errors import invalid_request, not_found, unprocessable
from .gitstore import GitRepo
from .payloads import html_run_url, workflow_json, workflow_run_json
from .shapes import head_commit_json
from .workflows import Workflow, WorkflowProblem, parse_workflow, render, resolve_inputs

if TYPE_CHECKING:
    from .simulator import GitHubSimulator

WORKFLOWS_DIR = ".github/workflows"
CONCLUSIONS = {
    "success",
    "failure",
    "cancelled",
    "skipped",
    "timed_out",
    "neutral",
    "action_required",
}
_SECRET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_SECRET_BYTES = 48 * 1024


class ActionsService:
    def __init__(self, sim: GitHubSimulator, hook: RunWorkflowHook | None) -> None:
        self._sim = sim
        self._hook = hook
        self._values: dict[tuple[str, str], str] = {}
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="github-actions")
        self._running = 0
        self._idle = threading.Condition()

    # -- secrets --------------------------------------------------------------------------

    def public_key(self, repo: dict[str, Any]) -> dict[str, str]:
        key = self._key_pair(repo).public_key.encode()
        return {"key_id": _key_id(key), "key": base64.b64encode(key).decode()}

    def put_secret(self, repo: dict[str, Any], name: str, body: dict[str, Any]) -> bool:
        """Store a sealed secret; True when it is new. Raises GitHub's 422s."""
        name = _secret_name(name)
        encrypted, key_id = body.get("encrypted_value"), body.get("key_id")
        if not isinstance(encrypted, str):
            raise invalid_request('"encrypted_value" wasn\'t supplied.')
        if not isinstance(key_id, str):
            raise invalid_request('"key_id" wasn\'t supplied.')
        pair = self._key_pair(repo)
        if key_id != _key_id(pair.public_key.encode()):
            raise unprocessable("Bad request - key_id does not match the repository public key.")
        try:
            plaintext = SealedBox(pair).decrypt(base64.b64decode(encrypted, validate=True))
            value = plaintext.decode()
        except (CryptoError, binascii.Error, ValueError, UnicodeDecodeError):
            raise unprocessable(
                "Bad request - encrypted_value is not a sealed box for the repository public key."
            ) from None
        if len(plaintext) > MAX_SECRET_BYTES:
            raise unprocessable("Secret values are limited to 48 KB.")
        now = iso_seconds(utc_now())
        created = name not in repo["secrets"]
        repo["secrets"][name] = {
            "name": name,
            "created_at": repo["secrets"].get(name, {}).get("created_at", now),
            "updated_at": now,
        }
        self._values[(repo["full_name"].lower(), name)] = value
        return created

    def delete_secret(self, repo: dict[str, Any], name: str) -> None:
        if repo["secrets"].pop(name.upper(), None) is None:
            raise not_found()
        self._values.pop((repo["full_name"].lower(), name.upper()), None)

    def _key_pair(self, repo: dict[str, Any]) -> PrivateKey:
        if "actions_key" not in repo:
            repo["actions_key"] = base64.b64encode(bytes(PrivateKey.generate())).decode()
            self._sim.state.save()
        return PrivateKey(base64.b64decode(repo["actions_key"]))

    # -- workflows --------------------------------------------------------------------------

    def workflows(self, repo: dict[str, Any], base: str) -> list[dict[str, Any]]:
        """The workflows of the default branch, as `GET .../actions/workflows` lists them."""
        git = self._sim.git(repo)
        commit = git.resolve(f"refs/heads/{repo['default_branch']}")
        listing = git.entry(commit, WORKFLOWS_DIR) if commit else None
        if listing is None or listing.type != "tree":
            return []
        found = []
        for entry in git.ls_tree(f"{commit}:{WORKFLOWS_DIR}"):
            if entry.type == "blob" and entry.path.endswith((".yml", ".yaml")):
                path = f"{WORKFLOWS_DIR}/{entry.path}"
                try:
                    name = parse_workflow(path, git.read_blob(entry.sha)).name
                except WorkflowProblem:
                    name = path
                found.append(workflow_json(base, repo, path, name, repo["created_at"]))
        return found

    def workflow_path(self, repo: dict[str, Any], base: str, workflow_ref: str) -> str:
        """The file a `{workflow_id}` path parameter names: an id or a file name."""
        if workflow_ref.isdigit():
            for workflow in self.workflows(repo, base):
                if workflow["id"] == int(workflow_ref):
                    return workflow["path"]
            raise not_found()
        return f"{WORKFLOWS_DIR}/{workflow_ref}"

    # -- runs -------------------------------------------------------------------------------

    def dispatch(
        self,
        repo: dict[str, Any],
        workflow_ref: str,
        ref: str,
        given_inputs: dict[str, Any],
        actor: str,
        base: str,
    ) -> dict[str, Any]:
        """Validate a workflow_dispatch like GitHub, create the run and start it."""
        git = self._sim.git(repo)
        path = self.workflow_path(repo, base, workflow_ref)
        branch, sha = _resolve_ref(git, ref)
        entry = git.entry(sha, path)
        if entry is None or entry.type != "blob":
            raise not_found()
        try:
            workflow = parse_workflow(path, git.read_blob(entry.sha))
            if workflow.dispatch_inputs is None:
                raise WorkflowProblem("Workflow does not have 'workflow_dispatch' trigger")
            inputs = resolve_inputs(workflow, given_inputs)
            contexts = _contexts(repo, workflow, inputs, actor, branch, ref, sha)
            name = render(workflow.run_name, contexts) if workflow.run_name else workflow.name
        except WorkflowProblem as problem:
            raise unprocessable(str(problem)) from None
        state = self._sim.state
        now = iso_seconds(utc_now())
        run_id = state.new_id()
        run = {
            "id": run_id,
            "repo": repo["full_name"],
            "workflow_path": path,
            "workflow_name": workflow.name,
            "name": name,
            "run_number": 1 + sum(1 for r in state.runs_of(repo) if r["workflow_path"] == path),
            "event": "workflow_dispatch",
            "status": "queued",
            "conclusion": None,
            "head_branch": branch,
            "head_sha": sha,
            "ref": f"refs/heads/{branch}" if branch else ref,
            "actor": actor,
            "inputs": inputs,
            "check_suite_id": state.new_id(),
            "created_at": now,
            "updated_at": now,
            "run_started_at": None,
            "base_url": base,
            "job": {
                "id": state.new_id(),
                "name": _first_job_name(workflow),
                "status": "queued",
                "conclusion": None,
                "started_at": None,
                "completed_at": None,
            },
        }
        state.data["runs"][str(run_id)] = run
        state.save()
        self._announce(run, "requested")
        if self._hook is not None:
            with self._idle:
                self._running += 1
            self._executor.submit(self._execute, run_id, workflow)
        return run

    def run_json(self, run: dict[str, Any], base: str | None = None) -> dict[str, Any]:
        sim = self._sim
        base = base or run["base_url"]
        repo = sim.state.repo(*run["repo"].split("/"))
        head = head_commit_json(sim.git(repo).read_commit(run["head_sha"]))
        return workflow_run_json(
            base, run, sim.repo_json(base, repo), sim.user_json(base, run["actor"]), head
        )

    def log(self, run_id: int) -> str | None:
        path = self._log_path(run_id)
        return path.read_text() if path.exists() else None

    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._running == 0, timeout)

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def _announce(self, run: dict[str, Any], action: str) -> None:
        sim = self._sim
        repo = sim.state.repo(*run["repo"].split("/"))
        base = run["base_url"]
        payload = {
            "action": action,
            "workflow_run": self.run_json(run),
            "workflow": workflow_json(
                base, repo, run["workflow_path"], run["workflow_name"], repo["created_at"]
            ),
        }
        sim.send_webhook("workflow_run", payload, repo=repo, base=base, sender=run["actor"])

    def _execute(self, run_id: int, workflow: Workflow) -> None:
        sim = self._sim
        workspace = sim.root / "actions" / "work" / str(run_id)
        conclusion, log = "failure", ""
        secrets: dict[str, str] = {}
        try:
            with sim.state.lock:
                run = sim.state.run(run_id)
                repo = sim.state.repo(*run["repo"].split("/"))
                now = iso_seconds(utc_now())
                run.update(status="in_progress", run_started_at=now, updated_at=now)
                run["job"].update(status="in_progress", started_at=now)
                sim.state.save()
                self._announce(run, "in_progress")
                secrets, lost = self._secrets_of(repo)
                context = self._context(run, repo, workflow)
            log = "".join(
                f"Secret {name} was set before the simulator restarted; values are kept in "
                "memory only, so it is missing from this run.\n"
                for name in lost
            )
            sim.git(repo).clone_at(workspace, run["head_sha"], run["head_branch"])
            conclusion, hook_log = self._call_hook(context, workspace, secrets)
            log += hook_log
        except Exception as error:  # the run must still complete, with the reason in its log
            log += f"\nThe local runner failed: {type(error).__name__}: {error}\n"
        finally:
            shutil.rmtree(workspace, ignore_errors=True)
            self._complete(run_id, conclusion, _masked(log, secrets))

    def _call_hook(
        self, context: WorkflowRunContext, workspace: Path, secrets: dict[str, str]
    ) -> tuple[str, str]:
        try:
            conclusion, log = self._hook(context, workspace, dict(secrets))
        except Exception as error:
            return "failure", f"The run failed: {type(error).__name__}: {error}\n"
        if conclusion not in CONCLUSIONS:
            return "failure", f"{log}\nThe runner reported an unknown conclusion {conclusion!r}.\n"
        return conclusion, log

    def _complete(self, run_id: int, conclusion: str, log: str) -> None:
        sim = self._sim
        path = self._log_path(run_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(log)
        with sim.state.lock:
            run = sim.state.run(run_id)
            now = iso_seconds(utc_now())
            run.update(status="completed", conclusion=conclusion, updated_at=now)
            run["job"].update(status="completed", conclusion=conclusion, completed_at=now)
            sim.state.save()
            self._announce(run, "completed")
        with self._idle:
            self._running -= 1
            self._idle.notify_all()

    def _secrets_of(self, repo: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
        """The plaintext secrets of `repo`, and the names whose value this process lost."""
        key = repo["full_name"].lower()
        known = {n: self._values[(key, n)] for n in repo["secrets"] if (key, n) in self._values}
        return known, sorted(set(repo["secrets"]) - set(known))

    def _context(
        self, run: dict[str, Any], repo: dict[str, Any], workflow: Workflow
    ) -> WorkflowRunContext:
        return WorkflowRunContext(
            id=run["id"],
            run_number=run["run_number"],
            name=run["name"],
            repository=repo["full_name"],
            workflow_path=run["workflow_path"],
            workflow=workflow.definition,
            event=run["event"],
            ref=run["ref"],
            head_branch=run["head_branch"],
            head_sha=run["head_sha"],
            inputs=dict(run["inputs"]),
            variables={v["name"]: v["value"] for v in repo.get("variables", {}).values()},
            actor=run["actor"],
            html_url=html_run_url(run["base_url"], repo["full_name"], run["id"]),
        )

    def _log_path(self, run_id: int) -> Path:
        return self._sim.root / "actions" / "logs" / f"{run_id}.log"


def _key_id(public_key: bytes) -> str:
    return str(int(hashlib.sha256(public_key).hexdigest()[:15], 16))


def _secret_name(name: str) -> str:
    if not _SECRET_NAME.match(name):
        raise unprocessable(
            "Secret names can only contain alphanumeric characters ([a-z], [A-Z], [0-9]) or "
            "underscores (_), and must not start with a number."
        )
    if name.upper().startswith("GITHUB_"):
        raise unprocessable("Secret names must not start with GITHUB_.")
    return name.upper()


def _resolve_ref(git: GitRepo, ref: str) -> tuple[str | None, str]:
    """(branch, sha) of a dispatch `ref`: a branch or tag name, or a full ref."""
    short = ref.removeprefix("refs/heads/").removeprefix("refs/tags/")
    for candidate, branch in ((f"refs/heads/{short}", short), (f"refs/tags/{short}", None)):
        sha = git.refs(candidate).get(candidate)
        if sha is not None:
            return branch, git.resolve(sha) or sha
    raise unprocessable(f"No ref found for: {ref}")


def _contexts(
    repo: dict[str, Any],
    workflow: Workflow,
    inputs: dict[str, Any],
    actor: str,
    branch: str | None,
    ref: str,
    sha: str,
) -> dict[str, Any]:
    full_ref = f"refs/heads/{branch}" if branch else ref
    return {
        "inputs": inputs,
        "github": {
            "actor": actor,
            "triggering_actor": actor,
            "event_name": "workflow_dispatch",
            "event": {
                "inputs": {
                    k: str(v).lower() if isinstance(v, bool) else v for k, v in inputs.items()
                }
            },
            "ref": full_ref,
            "ref_name": branch or full_ref.rsplit("/", 1)[-1],
            "ref_type": "branch" if branch else "tag",
            "repository": repo["full_name"],
            "repository_owner": repo["owner"],
            "sha": sha,
            "workflow": workflow.name,
        },
    }


def _first_job_name(workflow: Workflow) -> str:
    jobs = workflow.definition.get("jobs")
    if isinstance(jobs, dict) and jobs:
        key, job = next(iter(jobs.items()))
        return str(job.get("name", key)) if isinstance(job, dict) else str(key)
    return "build"


def _masked(log: str, secrets: dict[str, str]) -> str:
    """Replace secret values (and each line of multi-line ones) with ***, as GitHub does."""
    fragments = {line for value in secrets.values() for line in [value, *value.splitlines()]}
    for fragment in sorted(filter(None, (f.strip() for f in fragments)), key=len, reverse=True):
        log = log.replace(fragment, "***")
    return log
