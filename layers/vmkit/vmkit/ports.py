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
    status: str  # the provider's word: running/off (Hetzner), active/off (DigitalOcean) …
    ip: str | None
    labels: dict[str, str] = field(default_factory=dict)
    server_type: str | None = None  # the provider's size name: cax11, s-2vcpu-4gb …


@dataclass(frozen=True)
class Size:
    """A VM size as the provider lists it right now (the catalog is VMKit's static copy)."""

    name: str
    vcpus: int
    memory_gb: float
    disk_gb: int
    monthly_usd: float
    regions: tuple[str, ...]  # where it can be created now
    available: bool = True


@dataclass(frozen=True)
class Region:
    name: str
    description: str
    available: bool = True


class Compute(Protocol):
    """One cloud account's VMs (a compute target), through the provider's official SDK.

    Every method waits for the provider's action to finish before it returns, so a
    step that called one can move on. Failures are `ProviderError`: `transient` for
    rate limits, 5xx and action timeouts (the state machine retries those with
    backoff, after the SDK's own retries), `ProviderCredentialsRejected` when the
    token is refused, plain otherwise, with a message that names what was asked
    (the size, the region, the server). Servers are matched to VMKit's records by
    `labels`, which every adapter stores in its provider's terms (Hetzner labels,
    DigitalOcean tags).
    """

    def check_credentials(self) -> None:
        """Prove the token works with one cheap read (a one-item server listing).

        Raises `ProviderCredentialsRejected` if the provider refuses the token (or it
        lacks the read permission VMKit needs); used before a target is stored.
        """

    def create_server(
        self, *, name: str, server_type: str, region: str, user_data: str, labels: dict[str, str]
    ) -> Server:
        """Create a server running `user_data` (cloud-init) and wait until it is running
        with its public IPv4 assigned."""

    def get_server(self, server_id: str) -> Server | None:
        """The server, or None if it does not exist (any more)."""

    def find_servers(self, labels: dict[str, str]) -> list[Server]:
        """Every server carrying all of `labels` (all pages of the provider's listing)."""

    def delete_server(self, server_id: str) -> None:
        """Delete a server; deleting one that is already gone is not an error."""

    def resize_server(self, server_id: str, server_type: str) -> Server:
        """Give the server another size, keeping its disk, IP, data and user data.

        The provider resizes only a stopped server, so this shuts it down (the app is
        down until it is back), changes the size *without* growing the disk — so a
        later resize back down stays possible — and powers it on again; the agent
        reconnects by itself. Returns the server as it runs afterwards. Resizing to
        the size it has is a no-op. A size the provider does not offer in the
        server's region is a plain (not transient) `ProviderError` naming both.
        """

    def rebuild_server(self, server_id: str) -> Server:
        """Reinstall the server's image on a fresh disk, keeping its id, IP and size.

        Everything on the disk is lost. The provider serves the server's original
        user data to the new disk, so cloud-init runs it again and the agent comes
        back with the token it was created with: a "reset VM" that keeps DNS.
        """

    def list_sizes(self) -> list[Size]:
        """The sizes the account can create now, as the provider lists them."""

    def list_regions(self) -> list[Region]:
        """The regions (Hetzner: locations) the account can create servers in."""


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

    def run_errors(self, run_id: int) -> list[str]:
        """The error annotations (`##[error]` lines) of a finished run's failed jobs,
        without the runner's own "Process completed with exit code" line."""


@dataclass(frozen=True)
class InstallationInfo:
    """A GitHub App installation: on which account, over which repositories."""

    id: int
    account_login: str
    account_type: str  # User | Organization
    repository_selection: str  # all | selected
    suspended: bool = False


@dataclass(frozen=True)
class RepositoryInfo:
    id: int
    full_name: str


class GitHubApp(Protocol):
    """The VMKit GitHub App itself: its installations, and what a signed-in user can see."""

    def installation(self, installation_id: int) -> InstallationInfo | None:
        """The installation, or None if the App is not (or no longer) installed there."""

    def installation_for_repo(self, owner: str, name: str) -> int | None:
        """The id of the installation covering a repo, or None if none does."""

    def installation_repository(
        self, installation_id: int, owner: str, name: str
    ) -> RepositoryInfo | None:
        """The repo as the installation sees it, or None if the installation does not cover it."""

    def installation_repositories(self, installation_id: int) -> list[RepositoryInfo]:
        """The repositories the installation grants the App (all of its pages)."""

    def user_installations(self, user_token: str) -> list[InstallationInfo]:
        """The App's installations this user may access (GitHub's `GET /user/installations`)."""


# --- executions: the state machines ----------------------------------------------------


class Executions(Protocol):
    """Step Functions executions and the task tokens their waiting states park."""

    def start(self, machine_arn: str, name: str, payload: dict[str, Any]) -> None:
        """Start an execution named `name`; a name used before is refused."""

    def stop(self, execution_arn: str, *, error: str, cause: str) -> bool:
        """Stop an execution; False if it had already ended or never existed."""

    def status(self, execution_arn: str) -> str | None:
        """RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED; None if it does not exist
        (never started, or lost with the control plane that ran it)."""

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

    def close(self, connection_id: str) -> None:
        """Close an agent's connection (one already closed is fine)."""


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
