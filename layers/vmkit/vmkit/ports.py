"""The ports: everything VMKit's services need from outside the process.

Services see only these protocols, through `Deps` (`deps.compute(target)`,
`deps.dns()`, `deps.forge(repo)`, `deps.executions`, `deps.agents`,
`deps.artifacts`). The adapters in `vmkit.adapters` implement them over the real
SDKs and turn SDK errors into domain errors (`ProviderError`, transient where a retry
helps); the dict-backed fakes in `tests/support/fakes.py` implement them for unit
tests. DynamoDB is reached through `vmkit.store`, KMS through `vmkit.crypto`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from vmkit.ai.repo_files import RepoFiles

# --- compute: where VMs come from ------------------------------------------------------


@dataclass(frozen=True)
class Server:
    id: str
    name: str
    status: str
    ip: str | None
    labels: dict[str, str] = field(default_factory=dict)


class Compute(Protocol):
    def create_server(
        self, *, name: str, server_type: str, region: str, user_data: str, labels: dict[str, str]
    ) -> Server:
        """Create a server and wait until the provider reports it created."""

    def get_server(self, server_id: str) -> Server | None: ...

    def find_servers(self, labels: dict[str, str]) -> list[Server]: ...

    def delete_server(self, server_id: str) -> None:
        """Delete a server; deleting one that is already gone is not an error."""


# --- DNS: where names point ------------------------------------------------------------


class Dns(Protocol):
    def upsert_a_record(self, name: str, ip: str) -> str:
        """Point `name` at `ip` (creating or updating one A record); returns the record id."""

    def delete_records(self, name: str) -> int:
        """Delete every A record of `name`; returns how many were deleted."""


# --- forge: where code and runs live ---------------------------------------------------


@dataclass(frozen=True)
class WorkflowRun:
    id: int
    name: str
    status: str  # queued | in_progress | completed
    conclusion: str | None  # success | failure | cancelled | …
    html_url: str
    head_sha: str | None = None


@dataclass(frozen=True)
class PullRequest:
    number: int
    url: str
    created: bool  # False when an open PR was updated instead


class Forge(Protocol):
    """A repository host acting for the GitHub App installation of one repo."""

    def repo_id(self) -> int:
        """The host's numeric id of the repo (webhooks name repos by it)."""

    def default_branch_sha(self, branch: str) -> str: ...

    def file_exists(self, path: str, ref: str) -> bool: ...

    def files(self, ref: str) -> RepoFiles:
        """A read-only view of the repo at `ref`, for the scanner."""

    def propose(
        self, *, branch: str, base: str, files: dict[str, str], title: str, body: str
    ) -> PullRequest:
        """Put `files` on `branch` on top of `base` and open (or update) its pull request."""

    def set_secret(self, name: str, value: str) -> None: ...

    def delete_secret(self, name: str) -> None: ...

    def set_variable(self, name: str, value: str) -> None: ...

    def dispatch_workflow(self, workflow: str, ref: str, inputs: dict[str, str]) -> None: ...

    def find_run(self, workflow: str, marker: str) -> WorkflowRun | None:
        """The most recent run of `workflow` whose name contains `marker` (a deploy id)."""


# --- executions: the state machines ----------------------------------------------------


class Executions(Protocol):
    """Step Functions executions and the task tokens their waiting states park."""

    def start(self, machine_arn: str, name: str, payload: dict[str, Any]) -> None:
        """Start an execution named `name`; a name used before is refused."""

    def stop(self, execution_arn: str, *, error: str, cause: str) -> bool:
        """Stop an execution; False if it had already ended or never existed."""

    def succeed(self, task_token: str, output: dict[str, Any]) -> bool:
        """Resume a waiting task; False if the wait had already ended (timed out, stopped)."""

    def fail(self, task_token: str, *, error: str, cause: str) -> bool:
        """Fail a waiting task; False if the wait had already ended."""


# --- the agent channel: calls down the connections agents opened -----------------------


class ConnectionGone(Exception):
    """The agent's connection is closed (API Gateway's `GoneException`)."""


class AgentChannel(Protocol):
    def post(self, connection_id: str, data: bytes) -> None:
        """Send one frame to an agent; raises `ConnectionGone` if the connection is closed."""


# --- agent artifacts: the build new VMs install and upgrades fetch ----------------------


@dataclass(frozen=True)
class PublishedAgent:
    version: str
    download_url: str  # short-lived
    checksum_sha256: str

    def __repr__(self) -> str:  # the URL is a bearer credential for an hour
        return f"PublishedAgent({self.version}, sha256={self.checksum_sha256[:12]}…)"


class AgentArtifacts(Protocol):
    def published(self) -> PublishedAgent:
        """The agent build in the artifacts bucket, with a short-lived download URL."""
