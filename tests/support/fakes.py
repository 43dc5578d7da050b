"""Dict-backed fakes of the ports in `vmkit.ports`, for unit tests of the core.

Each behaves as the real system does in what VMKit relies on (a duplicate execution
name is refused, a task token resumes once, a deleted server is gone, a closed
connection raises `ConnectionGone`), records what it was asked, and can be told to
fail: `fake.fail_next("create_server", ProviderError(...))` makes the next call raise.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

from vmkit import catalog, credentials
from vmkit.errors import ProviderCredentialsRejected, ProviderError
from vmkit.models import ComputeTarget, Provider
from vmkit.ports import (
    ConnectionGone,
    InstallationInfo,
    PublishedAgent,
    PullRequest,
    Region,
    RepositoryInfo,
    Server,
    Size,
    WorkflowRun,
)


def transient(provider: str = "hetzner") -> ProviderError:
    return ProviderError(f"{provider} answered 503", provider=provider, transient=True)


class Switchable:
    """Failure switches: queued exceptions per method, raised on its next calls."""

    def __init__(self) -> None:
        self._failures: dict[str, list[BaseException]] = defaultdict(list)
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def fail_next(self, method: str, error: BaseException, times: int = 1) -> None:
        self._failures[method].extend([error] * times)

    def _call(self, method: str, *args: Any) -> None:
        self.calls.append((method, args))
        if self._failures[method]:
            raise self._failures[method].pop(0)

    def called(self, method: str) -> list[tuple[Any, ...]]:
        return [args for name, args in self.calls if name == method]


class FakeCompute(Switchable):
    def __init__(self, provider: Provider = Provider.hetzner) -> None:
        super().__init__()
        self.provider = provider
        self.servers: dict[str, Server] = {}
        self.user_data: dict[str, str] = {}
        self._ids = itertools.count(1001)

    def create_server(
        self, *, name: str, server_type: str, region: str, user_data: str, labels: dict[str, str]
    ) -> Server:
        self._call("create_server", name, server_type, region)
        server_id = str(next(self._ids))
        ip = f"203.0.113.{len(self.servers) + 1}"
        server = Server(server_id, name, "running", ip, labels, server_type)
        self.servers[server_id] = server
        self.user_data[server_id] = user_data
        return server

    def get_server(self, server_id: str) -> Server | None:
        self._call("get_server", server_id)
        return self.servers.get(server_id)

    def find_servers(self, labels: dict[str, str]) -> list[Server]:
        self._call("find_servers", labels)
        return [s for s in self.servers.values() if labels.items() <= s.labels.items()]

    def delete_server(self, server_id: str) -> None:
        self._call("delete_server", server_id)
        self.servers.pop(server_id, None)

    def check_credentials(self) -> None:
        self._call("check_credentials")

    def resize_server(self, server_id: str, server_type: str) -> Server:
        self._call("resize_server", server_id, server_type)
        self.servers[server_id] = replace(self.servers[server_id], server_type=server_type)
        return self.servers[server_id]

    def rebuild_server(self, server_id: str) -> Server:
        self._call("rebuild_server", server_id)
        return self.servers[server_id]

    def list_sizes(self) -> list[Size]:
        self._call("list_sizes")
        offer = catalog.offer(self.provider)
        return [
            Size(t.name, t.vcpus, t.memory_gb, t.disk_gb, t.monthly_usd, tuple(offer.regions))
            for t in offer.types.values()
        ]

    def list_regions(self) -> list[Region]:
        self._call("list_regions")
        return [Region(r.name, r.location) for r in catalog.offer(self.provider).regions.values()]


@dataclass
class FakeClouds:
    """Every provider account tests reach: one `FakeCompute` per (provider, token), built
    from the target's decrypted token (so sealing still runs), in place of
    `Deps._provider_compute`. A `reject`ed token is refused as the adapters refuse one."""

    rejected: set[str] = field(default_factory=set)
    accounts: dict[tuple[Provider, str], FakeCompute] = field(default_factory=dict)

    def reject(self, token: str) -> None:
        self.rejected.add(token)

    def checked(self) -> list[str]:
        """The tokens whose credentials were checked, in no particular order."""
        return [token for (_, token), c in self.accounts.items() if c.called("check_credentials")]

    def provider_compute(self, deps: Any, target: ComputeTarget) -> FakeCompute:
        token = credentials.provider_token(deps.sealer, target) or "local"
        key = (target.provider, token)
        if key not in self.accounts:
            account = FakeCompute(target.provider)
            if token in self.rejected:
                refused = ProviderCredentialsRejected(
                    f"{target.provider.value} refused the API token", provider=target.provider.value
                )
                for method in ("check_credentials", "create_server", "find_servers"):
                    account.fail_next(method, refused, times=1000)
            self.accounts[key] = account
        return self.accounts[key]


class FakeDns(Switchable):
    def __init__(self) -> None:
        super().__init__()
        self.records: dict[str, str] = {}

    def upsert_a_record(self, name: str, ip: str) -> str:
        self._call("upsert_a_record", name, ip)
        self.records[name] = ip
        return f"rec-{name}"

    def delete_records(self, name: str) -> int:
        self._call("delete_records", name)
        return 1 if self.records.pop(name, None) else 0


@dataclass
class InMemoryFiles:
    """`RepoFiles` over a dict of path → text."""

    files: dict[str, str] = field(default_factory=dict)

    def list_paths(self) -> list[str]:
        return sorted(self.files)

    def read_text(self, path: str, max_bytes: int = 1 << 20) -> str | None:
        return self.files.get(path)


class FakeForge(Switchable):
    """One GitHub repo: its branch heads, files, Actions secrets and variables, runs, PRs."""

    def __init__(self, files: dict[str, str] | None = None, github_id: int = 4242) -> None:
        super().__init__()
        self.github_id = github_id
        self.branches = {"main": "a" * 40}
        self.tree = dict(files or {"app.py": "print('hi')\n", "requirements.txt": "flask\n"})
        self.secrets: dict[str, str] = {}
        self.variables: dict[str, str] = {}
        self.dispatched: list[tuple[str, str, dict[str, str]]] = []
        self.runs: list[WorkflowRun] = []
        self.errors: dict[int, list[str]] = {}  # a run's `##[error]` lines, by run id
        self.pulls: dict[str, PullRequest] = {}
        self.proposed: dict[str, dict[str, str]] = {}

    def repo_id(self) -> int:
        self._call("repo_id")
        return self.github_id

    def default_branch_sha(self, branch: str) -> str:
        self._call("default_branch_sha", branch)
        if branch not in self.branches:
            raise ProviderError(
                f"GitHub refused to read branch {branch}: HTTP 404", provider="github"
            )
        return self.branches[branch]

    def file_exists(self, path: str, ref: str) -> bool:
        self._call("file_exists", path, ref)
        return path in self.tree

    def files(self, ref: str) -> InMemoryFiles:
        self._call("files", ref)
        return InMemoryFiles(dict(self.tree))

    def propose(
        self, *, branch: str, base: str, files: dict[str, str], title: str, body: str
    ) -> PullRequest:
        self._call("propose", branch, base)
        self.proposed[branch] = dict(files)
        existing = self.pulls.get(branch)
        pr = PullRequest(
            number=existing.number if existing else len(self.pulls) + 1,
            url=f"https://github.com/acme/app/pull/{existing.number if existing else len(self.pulls) + 1}",
            created=existing is None,
        )
        self.pulls[branch] = pr
        return pr

    def merge(self, branch: str) -> None:
        """The user merges the PR: its files land on main."""
        self.tree.update(self.proposed[branch])
        self.branches["main"] = "b" * 40

    def set_secret(self, name: str, value: str) -> None:
        self._call("set_secret", name)
        self.secrets[name] = value

    def delete_secret(self, name: str) -> None:
        self._call("delete_secret", name)
        self.secrets.pop(name, None)

    def set_variable(self, name: str, value: str) -> None:
        self._call("set_variable", name)
        self.variables[name] = value

    def dispatch_workflow(self, workflow: str, ref: str, inputs: dict[str, str]) -> None:
        self._call("dispatch_workflow", workflow, ref)
        self.dispatched.append((workflow, ref, dict(inputs)))

    def find_run(self, workflow: str, marker: str) -> WorkflowRun | None:
        self._call("find_run", workflow, marker)
        return next((run for run in reversed(self.runs) if marker in run.name), None)

    def run_errors(self, run_id: int) -> list[str]:
        self._call("run_errors", run_id)
        return list(self.errors.get(run_id, []))


class FakeExecutions(Switchable):
    """Executions by name, and task tokens that resume at most once."""

    def __init__(self) -> None:
        super().__init__()
        self.started: dict[str, dict[str, Any]] = {}
        self.stopped: dict[str, str] = {}
        self.ended_tokens: set[str] = set()
        self.resumed: dict[str, dict[str, Any]] = {}
        self.ended: dict[str, str] = {}  # execution name → how it ended, for `status`

    def start(self, machine_arn: str, name: str, payload: dict[str, Any]) -> None:
        self._call("start", machine_arn, name)
        if name in self.started:
            raise ProviderError(
                "could not start the state machine: ExecutionAlreadyExists",
                provider="stepfunctions",
            )
        self.started[name] = payload

    def stop(self, execution_arn: str, *, error: str, cause: str) -> bool:
        self._call("stop", execution_arn)
        if execution_arn in self.stopped:
            return False
        self.stopped[execution_arn] = error
        return True

    def status(self, execution_arn: str) -> str | None:
        self._call("status", execution_arn)
        name = execution_arn.rsplit(":", 1)[-1]
        if name not in self.started:
            return None
        if execution_arn in self.stopped:
            return "ABORTED"
        return self.ended.get(name, "RUNNING")

    def lose_all(self) -> None:
        """What a restart of a local control plane does: every execution is gone."""
        self.started.clear()
        self.stopped.clear()

    def succeed(self, task_token: str, output: dict[str, Any]) -> bool:
        return self._resume(task_token, {"output": output})

    def fail(self, task_token: str, *, error: str, cause: str) -> bool:
        return self._resume(task_token, {"error": error, "cause": cause})

    def _resume(self, task_token: str, outcome: dict[str, Any]) -> bool:
        self._call("resume", task_token)
        if task_token in self.ended_tokens:
            return False
        self.ended_tokens.add(task_token)
        self.resumed[task_token] = outcome
        return True


class FakeAgentChannel(Switchable):
    def __init__(self) -> None:
        super().__init__()
        self.frames: list[tuple[str, dict[str, Any]]] = []
        self.gone: set[str] = set()

    def post(self, connection_id: str, data: bytes) -> None:
        import json

        self._call("post", connection_id)
        if connection_id in self.gone:
            raise ConnectionGone(connection_id)
        self.frames.append((connection_id, json.loads(data)))

    def close(self, connection_id: str) -> None:
        self._call("close", connection_id)
        self.gone.add(connection_id)

    def last_call(self, method: str) -> dict[str, Any]:
        return next(frame for _, frame in reversed(self.frames) if frame.get("method") == method)


class FakeArtifacts(Switchable):
    def __init__(self, version: str = "0.1.0") -> None:
        super().__init__()
        self.agent = PublishedAgent(
            version=version,
            download_url="https://artifacts.example.test/vmkit-agent.pyz?X-Amz-Signature=abc",
            checksum_sha256="0" * 64,
        )

    def published(self) -> PublishedAgent:
        self._call("published")
        return self.agent


class FakeGitHubApp(Switchable):
    """The App's installations (each covering every repo of its account, unless some are
    taken out), and the user tokens that can see each installation."""

    def __init__(self) -> None:
        super().__init__()
        self.installations: dict[int, InstallationInfo] = {}
        self.removed: set[str] = set()  # full names taken out of their installation
        self.visible: dict[str, set[int]] = defaultdict(set)  # user token -> installations
        self._repo_ids: dict[str, int] = {}

    def add_installation(
        self, installation_id: int, account: str, *, users: tuple[str, ...] = ()
    ) -> None:
        self.installations[installation_id] = InstallationInfo(
            id=installation_id,
            account_login=account,
            account_type="Organization",
            repository_selection="all",
        )
        for token in users:
            self.visible[token].add(installation_id)

    def repo_id(self, full_name: str) -> int:
        return self._repo_ids.setdefault(full_name.lower(), 500_000 + len(self._repo_ids))

    def installation(self, installation_id: int) -> InstallationInfo | None:
        self._call("installation", installation_id)
        return self.installations.get(installation_id)

    def installation_for_repo(self, owner: str, name: str) -> int | None:
        self._call("installation_for_repo", owner, name)
        return next(
            (i.id for i in self.installations.values() if i.account_login.lower() == owner.lower()),
            None,
        )

    def installation_repository(
        self, installation_id: int, owner: str, name: str
    ) -> RepositoryInfo | None:
        self._call("installation_repository", installation_id, owner, name)
        installation = self.installations.get(installation_id)
        full_name = f"{owner}/{name}"
        if (
            installation is None
            or installation.account_login.lower() != owner.lower()
            or full_name.lower() in self.removed
        ):
            return None
        return RepositoryInfo(id=self.repo_id(full_name), full_name=full_name)

    def installation_repositories(self, installation_id: int) -> list[RepositoryInfo]:
        self._call("installation_repositories", installation_id)
        account = self.installations[installation_id].account_login.lower()
        return [
            RepositoryInfo(id=repo_id, full_name=name)
            for name, repo_id in self._repo_ids.items()
            if name.split("/")[0] == account and name not in self.removed
        ]

    def user_installations(self, user_token: str) -> list[InstallationInfo]:
        self._call("user_installations", user_token)
        return [self.installations[i] for i in sorted(self.visible[user_token])]
