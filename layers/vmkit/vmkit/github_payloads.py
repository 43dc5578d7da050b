"""The GitHub webhook payloads VMKit acts on, as pydantic models of the fields it reads.

A delivery is verified (HMAC) before it is parsed, but a verified body can still be
anything GitHub might send under a new version, or anything a holder of the shared
secret sends: each payload is parsed into its model first, so a body of the wrong
shape is refused with a 400 naming the field, instead of failing halfway through.
Ids are bounded (GitHub's are 64-bit), strings are bounded, unknown fields ignored.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, Strict

from vmkit.modelbase import Model

GitHubId = Annotated[int, Strict(), Field(ge=1, le=2**63 - 1)]  # a JSON true is not an id
Text = Annotated[str, Field(max_length=1024)]
FullName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")]


class _Payload(Model):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Account(_Payload):
    login: Annotated[str, Field(max_length=100)]
    id: GitHubId
    type: Text = "User"


class Repository(_Payload):
    id: GitHubId
    full_name: FullName


class InstallationRef(_Payload):
    id: GitHubId


class Installation(_Payload):
    id: GitHubId
    account: Account
    repository_selection: Literal["all", "selected"] = "all"
    suspended_at: Text | None = None


class _Event(_Payload):
    action: Annotated[str, Field(max_length=64)]
    installation: InstallationRef | None = None


class Branch(_Payload):
    ref: Annotated[str, Field(max_length=255)]


class PullRequest(_Payload):
    number: GitHubId
    merged: bool = False
    head: Branch


class PullRequestEvent(_Event):
    pull_request: PullRequest
    repository: Repository


class WorkflowRun(_Payload):
    id: GitHubId
    name: Text | None = None
    display_title: Text | None = None
    status: Text | None = None
    conclusion: Text | None = None
    html_url: Annotated[str, Field(max_length=2048)]
    head_sha: Annotated[str, Field(pattern=r"^[0-9a-f]{40}$")] | None = None


class WorkflowRunEvent(_Event):
    workflow_run: WorkflowRun
    repository: Repository


class InstallationEvent(_Event):
    """`installation`: created, deleted, suspend, unsuspend, new_permissions_accepted."""

    installation: Installation  # type: ignore[assignment]


class RepositoryRef(_Payload):
    id: GitHubId
    full_name: FullName


class InstallationRepositoriesEvent(_Event):
    """`installation_repositories`: added or removed repositories of an installation."""

    installation: Installation  # type: ignore[assignment]
    repository_selection: Literal["all", "selected"] = "selected"
    repositories_added: list[RepositoryRef] = Field(default_factory=list, max_length=10_000)
    repositories_removed: list[RepositoryRef] = Field(default_factory=list, max_length=10_000)
