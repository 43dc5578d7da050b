"""The three ports: where VMs come from, where names point, where code and runs live."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


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


class Dns(Protocol):
    def upsert_a_record(self, name: str, ip: str) -> str:
        """Point `name` at `ip` (creating or updating one A record); returns the record id."""

    def delete_records(self, name: str) -> int:
        """Delete every A record of `name`; returns how many were deleted."""


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

    def default_branch_sha(self, branch: str) -> str: ...

    def file_exists(self, path: str, ref: str) -> bool: ...

    def set_secret(self, name: str, value: str) -> None: ...

    def delete_secret(self, name: str) -> None: ...

    def set_variable(self, name: str, value: str) -> None: ...

    def dispatch_workflow(self, workflow: str, ref: str, inputs: dict[str, str]) -> None: ...

    def find_run(self, workflow: str, marker: str) -> WorkflowRun | None:
        """The most recent run of `workflow` whose name contains `marker` (a deploy id)."""
