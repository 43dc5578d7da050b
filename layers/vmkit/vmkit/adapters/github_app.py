"""The forge: GitHub, acting as the VMKit GitHub App's installation on one repo.

githubkit's installation auth strategy mints installation tokens from the App key
and caches them until they expire, so a warm function reuses them; clients are kept
per installation for that reason. Actions secrets are sealed with the repo's public
key (libsodium sealed box, PyNaCl), as GitHub requires: VMKit never sends a secret
in the clear, and GitHub never gives it back.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property, lru_cache
from typing import Any

from vmkit.errors import ProviderError
from vmkit.ports import InstallationInfo, PullRequest, RepositoryInfo, WorkflowRun


@lru_cache(maxsize=64)
def _installation_client(app_id: str, private_key: str, installation_id: int, base_url: str) -> Any:
    from githubkit import AppInstallationAuthStrategy, GitHub

    return GitHub(
        AppInstallationAuthStrategy(app_id, private_key, installation_id), base_url=base_url
    )


class GitHubAppClient:
    """The App's own view (App JWT, installation tokens) and a signed-in user's (OAuth)."""

    def __init__(self, *, app_id: str, private_key: str, base_url: str):
        self.app_id = app_id
        self.private_key = private_key
        self.base_url = base_url

    @cached_property
    def _app(self) -> Any:
        """A client authenticated as the App (a fresh JWT per request, made by githubkit)."""
        from githubkit import AppAuthStrategy, GitHub

        return GitHub(AppAuthStrategy(self.app_id, self.private_key), base_url=self.base_url)

    def installation(self, installation_id: int) -> InstallationInfo | None:
        with _errors(f"read installation {installation_id} of the VMKit GitHub App"):
            found = _absent_on_404(
                lambda: self._app.rest.apps.get_installation(installation_id).parsed_data
            )
        return _installation_info(found) if found else None

    def installation_for_repo(self, owner: str, name: str) -> int | None:
        with _errors(f"find the VMKit GitHub App on {owner}/{name}"):
            found = _absent_on_404(
                lambda: self._app.rest.apps.get_repo_installation(owner, name).parsed_data
            )
        return found.id if found else None

    def installation_repository(
        self, installation_id: int, owner: str, name: str
    ) -> RepositoryInfo | None:
        github = _installation_client(self.app_id, self.private_key, installation_id, self.base_url)
        with _errors(f"read {owner}/{name} through installation {installation_id}"):
            found = _absent_on_404(lambda: github.rest.repos.get(owner, name).parsed_data)
        return RepositoryInfo(id=found.id, full_name=found.full_name) if found else None

    def installation_repositories(self, installation_id: int) -> list[RepositoryInfo]:
        github = _installation_client(self.app_id, self.private_key, installation_id, self.base_url)
        with _errors(f"list the repositories of installation {installation_id}"):
            return [
                RepositoryInfo(id=repo.id, full_name=repo.full_name)
                for repo in github.paginate(
                    github.rest.apps.list_repos_accessible_to_installation,
                    map_func=lambda r: r.parsed_data.repositories,
                )
            ]

    def user_installations(self, user_token: str) -> list[InstallationInfo]:
        from githubkit import GitHub, TokenAuthStrategy

        with (
            _errors("list the installations the signed-in user can access"),
            GitHub(TokenAuthStrategy(user_token), base_url=self.base_url) as github,
        ):
            return [
                _installation_info(found)
                for found in github.paginate(
                    github.rest.apps.list_installations_for_authenticated_user,
                    map_func=lambda r: r.parsed_data.installations,
                )
            ]


def _installation_info(found: Any) -> InstallationInfo:
    account = found.account
    return InstallationInfo(
        id=found.id,
        account_login=getattr(account, "login", None) or getattr(account, "slug", "") or "",
        account_type=getattr(account, "type", None) or "Organization",
        repository_selection=str(found.repository_selection),
        suspended=found.suspended_at is not None,
    )


def _absent_on_404(read: Any) -> Any:
    from githubkit.exception import RequestFailed

    try:
        return read()
    except RequestFailed as exc:
        if exc.response.status_code == 404:
            return None
        raise


class GitHubRepo:
    def __init__(
        self,
        *,
        app_id: str,
        private_key: str,
        installation_id: int,
        owner: str,
        repo: str,
        base_url: str,
    ):
        self.github = _installation_client(app_id, private_key, installation_id, base_url)
        self.owner = owner
        self.repo = repo

    def __repr__(self) -> str:
        return f"GitHubRepo({self.owner}/{self.repo})"

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.repo}"

    def repo_id(self) -> int:
        """GitHub's numeric id of the repo: webhooks name repos by it."""
        with _errors(f"read {self.full_name}"):
            return self.github.rest.repos.get(self.owner, self.repo).parsed_data.id

    def default_branch_sha(self, branch: str) -> str:
        with _errors(f"read branch {branch} of {self.full_name}"):
            return self.github.rest.git.get_ref(
                self.owner, self.repo, f"heads/{branch}"
            ).parsed_data.object_.sha

    def file_exists(self, path: str, ref: str) -> bool:
        return self._found(
            f"read {path}", self.github.rest.repos.get_content, self.owner, self.repo, path, ref=ref
        )

    def set_secret(self, name: str, value: str) -> None:
        from nacl.public import PublicKey, SealedBox

        with _errors(f"set the Actions secret {name} on {self.full_name}"):
            key = self.github.rest.actions.get_repo_public_key(self.owner, self.repo).parsed_data
            sealed = SealedBox(PublicKey(base64.b64decode(key.key))).encrypt(value.encode())
            self.github.rest.actions.create_or_update_repo_secret(
                self.owner,
                self.repo,
                name,
                data={"encrypted_value": base64.b64encode(sealed).decode(), "key_id": key.key_id},
            )

    def delete_secret(self, name: str) -> None:
        """Delete an Actions secret; one that is already gone is fine."""
        self._found(
            f"delete the Actions secret {name}",
            self.github.rest.actions.delete_repo_secret,
            self.owner,
            self.repo,
            name,
        )

    def set_variable(self, name: str, value: str) -> None:
        from githubkit.exception import RequestFailed

        actions = self.github.rest.actions
        with _errors(f"set the Actions variable {name} on {self.full_name}"):
            try:
                actions.update_repo_variable(
                    self.owner, self.repo, name, data={"name": name, "value": value}
                )
            except RequestFailed as exc:
                if exc.response.status_code != 404:
                    raise
                actions.create_repo_variable(
                    self.owner, self.repo, data={"name": name, "value": value}
                )

    def dispatch_workflow(self, workflow: str, ref: str, inputs: dict[str, str]) -> None:
        with _errors(f"start the {workflow} workflow on {self.full_name}"):
            self.github.rest.actions.create_workflow_dispatch(
                self.owner, self.repo, workflow, data={"ref": ref, "inputs": inputs}
            )

    def find_run(self, workflow: str, marker: str) -> WorkflowRun | None:
        with _errors(f"list runs of {workflow} on {self.full_name}"):
            runs = self.github.rest.actions.list_workflow_runs(
                self.owner, self.repo, workflow, event="workflow_dispatch", per_page=50
            ).parsed_data.workflow_runs
        for run in runs:
            if marker in (run.name or "") or marker in (run.display_title or ""):
                return WorkflowRun(
                    id=run.id,
                    name=run.name or "",
                    status=run.status or "",
                    conclusion=run.conclusion,
                    html_url=run.html_url,
                    head_sha=run.head_sha,
                )
        return None

    def run_errors(self, run_id: int) -> list[str]:
        """The `##[error]` lines of the run's failed jobs' logs, as GitHub shows them as
        annotations (only `actions: read` is needed, which the App has)."""
        actions = self.github.rest.actions
        errors: list[str] = []
        with _errors(f"read the jobs of run {run_id} on {self.full_name}"):
            jobs = actions.list_jobs_for_workflow_run(
                self.owner, self.repo, run_id, filter_="latest"
            ).parsed_data.jobs
            for job in jobs:
                if job.conclusion != "failure":
                    continue
                text = actions.download_job_logs_for_workflow_run(
                    self.owner, self.repo, job.id
                ).text
                errors += error_lines(text)
        return errors

    def files(self, ref: str):  # -> vmkit.ai.GitHubRepoFiles: read-only view for the scanner
        from vmkit.adapters.github_files import GitHubRepoFiles

        return GitHubRepoFiles(self.github, self.owner, self.repo, ref)

    def propose(
        self, *, branch: str, base: str, files: dict[str, str], title: str, body: str
    ) -> PullRequest:
        """Put `files` on `branch` in one commit on top of `base`, and open or update its PR.

        Re-running moves the branch to a fresh commit on the current base and edits the
        open PR, so a repo never gets a second onboarding PR.
        """
        git, pulls = self.github.rest.git, self.github.rest.pulls
        with _errors(f"open the onboarding pull request on {self.full_name}"):
            base_sha = self.default_branch_sha(base)
            base_tree = git.get_commit(self.owner, self.repo, base_sha).parsed_data.tree.sha
            tree = git.create_tree(
                self.owner,
                self.repo,
                data={
                    "base_tree": base_tree,
                    "tree": [
                        {"path": p, "mode": "100644", "type": "blob", "content": c}
                        for p, c in sorted(files.items())
                    ],
                },
            ).parsed_data.sha
            commit = git.create_commit(
                self.owner,
                self.repo,
                data={
                    "message": title,
                    "tree": tree,
                    "parents": [base_sha],
                },
            ).parsed_data.sha
            if self._found(
                "read the onboarding branch", git.get_ref, self.owner, self.repo, f"heads/{branch}"
            ):
                git.update_ref(
                    self.owner, self.repo, f"heads/{branch}", data={"sha": commit, "force": True}
                )
            else:
                git.create_ref(
                    self.owner, self.repo, data={"ref": f"refs/heads/{branch}", "sha": commit}
                )
            existing = pulls.list(
                self.owner, self.repo, state="open", head=f"{self.owner}:{branch}"
            ).parsed_data
            if existing:
                pr = pulls.update(
                    self.owner, self.repo, existing[0].number, data={"title": title, "body": body}
                ).parsed_data
            else:
                pr = pulls.create(
                    self.owner,
                    self.repo,
                    data={
                        "title": title,
                        "body": body,
                        "head": branch,
                        "base": base,
                    },
                ).parsed_data
        return PullRequest(number=pr.number, url=pr.html_url, created=not existing)

    def _found(self, what: str, call: Any, *args: Any, **kwargs: Any) -> bool:
        """Make the call; False if GitHub answered 404, any other failure raised."""
        from githubkit.exception import RequestFailed

        try:
            with _errors(f"{what} on {self.full_name}"):
                call(*args, **kwargs)
        except ProviderError as exc:
            if (
                isinstance(exc.__cause__, RequestFailed)
                and exc.__cause__.response.status_code == 404
            ):
                return False
            raise
        return True


_ERROR_MARK = "##[error]"
_RUNNER_EXIT = "Process completed with exit code"
_MAX_ERROR_CHARS = 500


def error_lines(log: str) -> list[str]:
    """A job log's error annotations, each without its timestamp, the runner's generic
    exit line left out (it says that a step failed, not why)."""
    found = []
    for line in log.splitlines():
        _, mark, text = line.partition(_ERROR_MARK)
        if mark and text.strip() and not text.startswith(_RUNNER_EXIT):
            found.append(text.strip()[:_MAX_ERROR_CHARS])
    return found


@contextmanager
def _errors(what: str) -> Iterator[None]:
    from githubkit.exception import GitHubException, RequestFailed, RequestTimeout

    try:
        yield
    except RequestFailed as exc:
        status = exc.response.status_code
        transient = (
            status == 429
            or status >= 500
            or (status == 403 and "rate limit" in exc.response.text.lower())
        )
        hint = " (is the VMKit GitHub App installed on it?)" if status in (403, 404) else ""
        raise ProviderError(
            f"GitHub refused to {what}: HTTP {status}{hint}", provider="github", transient=transient
        ) from exc
    except RequestTimeout as exc:
        raise ProviderError(
            f"GitHub did not answer in time to {what}", provider="github", transient=True
        ) from exc
    except GitHubException as exc:
        # The wrapped error's type says what broke (connection, protocol); its text could
        # echo a request, so it stays out of the message.
        origin = type(getattr(exc, "exc", exc)).__name__
        raise ProviderError(
            f"could not {what}: {origin}", provider="github", transient=True
        ) from exc
