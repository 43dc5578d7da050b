"""What callers send and what they get back, shared by REST, MCP and the CLI.

Inputs forbid unknown fields (a typo is an error, not a silent no-op) and carry the
constraints a caller needs to get right the first time. Outputs are built from the
stored records by `from_record`, and never include a ciphertext, a credential
verifier, or a secret value: secrets come back masked.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from vmkit import catalog
from vmkit.ids import PREFIXES, id_pattern
from vmkit.modelbase import Model
from vmkit.models import (
    ApiKey,
    DeployAction,
    DeployFailure,
    DeployStatus,
    Environment,
    Instance,
    InstanceStatus,
    Interface,
    LocalMachine,
    OnboardingState,
    Provider,
    RepoAccess,
    Role,
    Scope,
    StepRecord,
    utcnow,
)

if TYPE_CHECKING:
    from vmkit.store import Page

MASK = "********"
METRICS_STALE_AFTER = timedelta(minutes=5)

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
EnvSlug = Annotated[
    str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$|^[a-z]$", max_length=32)
]
EnvVarName = Annotated[str, StringConstraints(pattern=r"^[A-Z_][A-Z0-9_]{0,127}$")]


def id_constraints(kind: str) -> dict[str, str]:
    """An id's pattern and description, shared by bodies, REST paths and MCP arguments."""
    what = kind.replace("_", " ").capitalize()
    return {
        "pattern": id_pattern(kind),
        "description": f"{what} id: '{PREFIXES[kind]}_' followed by 26 characters.",
    }


LIMIT_CONSTRAINTS: dict[str, Any] = {"ge": 1, "le": 100, "description": "Page size, 1 to 100."}
CURSOR_CONSTRAINTS: dict[str, Any] = {
    "max_length": 2048,
    "description": "next_cursor of the previous page, to get the next one.",
}
CONTAINER_NAME_CONSTRAINTS: dict[str, Any] = {
    "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$",
    "description": "Container name, as listed in the metrics' container_health.",
}
LOG_LINES_CONSTRAINTS: dict[str, Any] = {
    "ge": 1,
    "le": 5000,
    "description": "How many of the latest lines, 1 to 5000.",
}

# A size or region of some provider's catalog (the target's provider is checked after).
ServerTypeName = Literal[catalog.ALL_SERVER_TYPES]  # type: ignore[valid-type]
RegionName = Literal[catalog.ALL_REGIONS]  # type: ignore[valid-type]
GitHubInstallationId = Annotated[
    int, Field(ge=1, le=2**53 - 1, description="GitHub's installation id.")
]

TargetId = Annotated[str, Field(**id_constraints("compute_target"))]
RepoId = Annotated[str, Field(**id_constraints("repo"))]
EnvironmentId = Annotated[str, Field(**id_constraints("environment"))]
DeployId = Annotated[str, Field(**id_constraints("deploy"))]
Limit = Annotated[int, Field(**LIMIT_CONSTRAINTS)]
Cursor = Annotated[str | None, Field(**CURSOR_CONSTRAINTS)]
ContainerName = Annotated[str, Field(**CONTAINER_NAME_CONSTRAINTS)]
LogLineCount = Annotated[int, Field(**LOG_LINES_CONSTRAINTS)]


class Input(Model):
    # Built at import, unlike other models: FastAPI wraps a request body's model in an
    # annotated TypeAdapter, and a deferred model there makes pydantic warn, on every
    # first request, that the body's alias has no effect.
    model_config = ConfigDict(extra="forbid", defer_build=False)


class Output(Model):
    model_config = ConfigDict(from_attributes=True)


T = TypeVar("T")


class ListOf(Model, Generic[T]):
    items: list[T]
    next_cursor: str | None = None

    @classmethod
    def of(cls, page: Page[T]) -> ListOf[T]:
        return cls(items=page.items, next_cursor=page.next_cursor)


# --- members -----------------------------------------------------------------------------

# GitHub's rule for logins (kept in step with `vmkit.services.members.LOGIN_PATTERN`).
GitHubLogin = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9](?:-?[A-Za-z0-9]){0,38}$", max_length=39),
    Field(description="A GitHub login, as on github.com/{login}.", examples=["octocat"]),
]


class MemberInvite(Input):
    login: GitHubLogin
    role: Role = Field(description="owner, admin, deployer or viewer.")


class MemberUpdate(Input):
    role: Role


class MemberPublic(Output):
    login: str
    role: Role
    pending: bool = Field(description="Invited, not signed in yet: joins at their next sign-in.")
    user_id: str | None = Field(description="None while the invitation is pending.")
    invited_by: str | None
    created_at: datetime

    @model_validator(mode="before")
    @classmethod
    def _from_record(cls, data: Any) -> Any:
        if hasattr(data, "pending"):
            return {
                **data.model_dump(),
                "user_id": None if data.pending else data.id,
            }
        return data


# --- keys --------------------------------------------------------------------------------


class ApiKeyCreate(Input):
    name: Name
    scopes: list[Scope] = Field(min_length=1, max_length=3, examples=[["deploy"]])
    environment_ids: list[EnvironmentId] = Field(default_factory=list, max_length=50)


class ApiKeyPublic(Output):
    id: str
    name: str
    scopes: list[Scope]
    environment_ids: list[str]
    hint: str = Field(description="The key's visible prefix; the secret part is never shown again.")
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @model_validator(mode="before")
    @classmethod
    def _hint(cls, data: Any) -> Any:
        if isinstance(data, ApiKey):
            return {**data.model_dump(), "hint": f"vmk_{data.id}_…"}
        return data


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="The full key. Shown once: store it now.")


# --- compute targets ---------------------------------------------------------------------


# Cloud API tokens are printable ASCII without spaces; anything else could not be sent
# in an HTTP header, so it is refused here rather than failing at the provider.
ProviderToken = Annotated[
    str, StringConstraints(min_length=8, max_length=512, pattern=r"^[\x21-\x7e]+$")
]


class ComputeTargetCreate(Input):
    # The rules `_token_needed` enforces, in the schema too: clients (and schemathesis)
    # see that a cloud target needs its token and that local_machine is local-only.
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"provider": {"const": "local"}}, "required": ["provider"]},
            "else": {
                "required": ["token"],
                "properties": {"token": {"type": "string"}, "local_machine": {"type": "null"}},
            },
        }
    )

    name: Name
    provider: Provider
    token: ProviderToken | None = Field(
        default=None, description="The provider's API token; stored encrypted, never returned."
    )
    default_region: RegionName | None = None
    local_machine: LocalMachine | None = Field(
        default=None,
        description="`local` targets only: `vm` boots each server as a real qemu guest, "
        "`sandbox` as a directory; unset, the local stack's default.",
    )

    @model_validator(mode="after")
    def _token_needed(self) -> ComputeTargetCreate:
        if self.provider is not Provider.local and not self.token:
            raise ValueError(
                f"a {self.provider.value} compute target needs the provider's API token"
            )
        if self.provider is not Provider.local and self.local_machine is not None:
            raise ValueError("local_machine applies to local compute targets only")
        return self


class ComputeTargetUpdate(Input):
    name: Name | None = None
    token: ProviderToken | None = None
    default_region: RegionName | None = None


class ComputeTargetPublic(Output):
    id: str
    name: str
    provider: Provider
    token_hint: str | None = Field(
        description="Last characters of the token, to tell tokens apart."
    )
    default_region: str
    deploy_public_key: str | None
    local_machine: LocalMachine | None = None
    created_at: datetime


class ServerTypePublic(Output):
    name: str
    vcpus: int
    memory_gb: int
    disk_gb: int
    arch: str = Field(description="What the app's image is built for: arm64 or amd64.")
    monthly_usd: float = Field(description="List price estimate; 0 for local sandbox VMs.")
    good_for: str


class RegionPublic(Output):
    name: str
    location: str


class ProviderOfferPublic(Output):
    provider: Provider
    default_server_type: str
    default_region: str
    server_types: list[ServerTypePublic]
    regions: list[RegionPublic]


class CatalogPublic(Output):
    providers: list[ProviderOfferPublic]
    prices: str = Field(description="Where the prices come from.")


# --- GitHub App installations --------------------------------------------------------------


class InstallationPublic(Output):
    """A GitHub App installation the workspace holds: repos connect through it."""

    id: int = Field(description="GitHub's installation id.")
    account_login: str
    account_type: str = Field(description="User or Organization.")
    repository_selection: str = Field(description="all, or selected repositories only.")
    suspended: bool
    claimed_by: str
    claimed_via: str = Field(description="setup_url, github_user or operator.")
    created_at: datetime


class AvailableInstallation(Output):
    """An installation the signed-in GitHub user can access, and who holds it in VMKit."""

    id: int
    account_login: str
    account_type: str
    repository_selection: str
    suspended: bool
    claimed_by_you: bool = Field(description="Held by this workspace.")
    claimed_elsewhere: bool = Field(description="Held by another workspace (claiming fails).")


class InstallUrl(Output):
    url: str = Field(description="GitHub's page to install the App; valid for ten minutes.")


class InstallationClaim(Input):
    installation_id: GitHubInstallationId


class RepositoryOption(Output):
    """A repository an installation covers: connectable with POST /api/repos."""

    id: int
    full_name: str


# --- repos -------------------------------------------------------------------------------


class RepoCreate(Input):
    full_name: Annotated[
        str, StringConstraints(pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
    ] = Field(examples=["acme/invoicer"])
    installation_id: GitHubInstallationId | None = Field(
        default=None,
        description="The workspace's installation covering the repo; found on GitHub if omitted.",
    )
    default_branch: Annotated[str, StringConstraints(min_length=1, max_length=255)] = "main"


class OnboardRequest(Input):
    environment_id: EnvironmentId | None = Field(
        default=None,
        description="Environment whose host the config names; the repo's first if omitted.",
    )
    overwrite: StrictBool = Field(default=False, description="Replace files the repo already has.")


class RepoPublic(Output):
    id: str
    owner: str
    name: str
    full_name: str
    slug: str
    installation_id: int | None
    access: RepoAccess = Field(
        default=RepoAccess.active, description="active, or why VMKit may no longer act on it."
    )
    access_reason: str | None = None
    default_branch: str
    onboarding: OnboardingState
    onboarding_pr_url: str | None
    scan: dict[str, Any] | None
    created_at: datetime


# --- environments ------------------------------------------------------------------------


ENV_VAR_VALUE_MAX_CHARS = 16 * 1024
ENV_VARS_PER_REQUEST = 100


class EnvVarInput(Input):
    name: EnvVarName
    value: Annotated[str, StringConstraints(max_length=ENV_VAR_VALUE_MAX_CHARS)]
    secret: StrictBool = False  # "false" (a string) is not a bool: refused, not taken as True


class EnvVarPublic(Output):
    name: str
    secret: bool
    value: str = Field(description=f"The value, or {MASK!r} for a secret.")


def _network(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError:
        raise ValueError(
            f"{value[:60]!r} is not an IP network (CIDR, e.g. 203.0.113.0/24)"
        ) from None


_IPV4 = (
    r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}(/(3[0-2]|[12]?\d))?"
)
_H = "[0-9a-fA-F]{1,4}"
_IPV6 = (
    rf"(({_H}:){{7}}{_H}|({_H}:){{1,7}}:|({_H}:){{1,6}}:{_H}|({_H}:){{1,5}}(:{_H}){{1,2}}"
    rf"|({_H}:){{1,4}}(:{_H}){{1,3}}|({_H}:){{1,3}}(:{_H}){{1,4}}|({_H}:){{1,2}}(:{_H}){{1,5}}"
    rf"|{_H}:(:{_H}){{1,6}}|:((:{_H}){{1,7}}|:))(/(12[0-8]|1[01]\d|[1-9]?\d))?"
)
# The schema's pattern says what `_network` accepts (IPv4 or IPv6, optional prefix);
# `_network` validates, so a bad entry gets its message, not the pattern's text.
SshNetwork = Annotated[
    str,
    StringConstraints(max_length=64),
    AfterValidator(_network),
    WithJsonSchema({"type": "string", "maxLength": 64, "pattern": rf"^({_IPV4}|{_IPV6})$"}),
]
SSH_ALLOW_FROM_MAX = 50
SSH_ALLOW_FROM_DESCRIPTION = (
    "Networks (CIDR) that may reach the VM's SSH port besides GitHub's hosted runners, "
    "which are always allowed (the deploy path): an office, a VPN, self-hosted runners. "
    "Applied when the VM is next hardened (a deploy, or POST /api/instances/{id}/harden)."
)


class EnvironmentCreate(Input):
    repo_id: RepoId
    name: EnvSlug = Field(examples=["production"])
    compute_target_id: TargetId
    server_type: ServerTypeName | None = Field(
        default=None,
        description="VM size (GET /api/catalog lists each provider's); the target "
        "provider's default if omitted: cax11 on hetzner, s-2vcpu-4gb on digitalocean.",
    )
    region: RegionName | None = Field(
        default=None, description="Region; the compute target's default if omitted."
    )
    env_vars: list[EnvVarInput] = Field(default_factory=list, max_length=ENV_VARS_PER_REQUEST)
    ssh_allow_from: list[SshNetwork] = Field(
        default_factory=list, max_length=SSH_ALLOW_FROM_MAX, description=SSH_ALLOW_FROM_DESCRIPTION
    )


class EnvironmentUpdate(Input):
    server_type: ServerTypeName | None = None
    region: RegionName | None = Field(
        default=None, description="Another region; only before the environment has a VM."
    )
    compute_target_id: TargetId | None = None
    ssh_allow_from: list[SshNetwork] | None = Field(
        default=None, max_length=SSH_ALLOW_FROM_MAX, description=SSH_ALLOW_FROM_DESCRIPTION
    )


class EnvVarsUpdate(Input):
    set: list[EnvVarInput] = Field(default_factory=list, max_length=ENV_VARS_PER_REQUEST)
    unset: list[EnvVarName] = Field(default_factory=list, max_length=ENV_VARS_PER_REQUEST)


class EnvironmentPublic(Output):
    id: str
    repo_id: str
    name: str
    slug: str
    compute_target_id: str
    server_type: str
    region: str
    hostname: str
    url: str
    env_vars: list[EnvVarPublic]
    instance_id: str | None
    active_deploy_id: str | None
    ssh_allow_from: list[str] = Field(
        default_factory=list,
        description="Networks SSH is open to besides GitHub's hosted runners.",
    )
    deploy_key_rotated_at: datetime | None = None
    monthly_cost_usd: float | None = Field(
        default=None, description="The VM size's list price per month (0 for local)."
    )
    created_at: datetime

    @classmethod
    def from_record(
        cls,
        env: Environment,
        url_template: str = "https://{hostname}",
        monthly_cost_usd: float | None = None,
    ) -> EnvironmentPublic:
        data = env.model_dump(exclude={"env_vars"})
        data["monthly_cost_usd"] = monthly_cost_usd
        data["env_vars"] = [
            EnvVarPublic(name=v.name, secret=v.secret, value=MASK if v.secret else v.value or "")
            for v in env.env_vars
        ]
        data["url"] = url_template.format(hostname=env.hostname)
        return cls.model_validate(data)


# --- instances ---------------------------------------------------------------------------


class InstancePublic(Output):
    id: str
    environment_id: str
    provider: Provider
    provider_server_id: str | None
    ip: str | None
    server_type: str
    region: str
    status: InstanceStatus
    agent_connected: bool
    agent_version: str | None
    last_seen_at: datetime | None
    hardened_at: datetime | None
    metrics: Metrics | None
    metrics_at: datetime | None
    metrics_stale: bool = Field(description="True when the latest metrics are over 5 minutes old.")
    created_at: datetime

    @classmethod
    def from_record(cls, instance: Instance) -> InstancePublic:
        stale = instance.metrics_at is None or utcnow() - instance.metrics_at > METRICS_STALE_AFTER
        return cls.model_validate({**instance.model_dump(), "metrics_stale": stale})


class LogLine(Output):
    ts: str
    text: str


class LogLines(Output):
    lines: list[LogLine]


class Metrics(Output):
    """What an agent measured (in heartbeats, or on request): each figure may be null
    when it could not be read, with the reason in `errors`."""

    cpu_pct: float | None = None
    mem_pct: float | None = None
    disk_pct: float | None = None
    container_count: int | None = None
    container_health: dict[str, str] = Field(
        default_factory=dict,
        description="Each container's health: healthy, unhealthy, starting or none.",
    )
    collected_at: str | None = None
    errors: list[str] = Field(default_factory=list)


class Diagnosis(Output):
    """What an operator checks first on a misbehaving VM, gathered by its agent.

    Each section is as the agent reports it (agent/PROTOCOL.md, `diagnose`); a section
    the agent could not read holds `{"error": "…"}` instead.
    """

    agent: dict[str, Any] = Field(default_factory=dict)
    host: dict[str, Any] = Field(default_factory=dict)
    docker: dict[str, Any] = Field(default_factory=dict)
    containers: list[dict[str, Any]] | dict[str, Any] = Field(default_factory=list)
    disk: dict[str, Any] = Field(default_factory=dict)
    memory: dict[str, Any] = Field(default_factory=dict)
    clock: dict[str, Any] = Field(default_factory=dict)
    gateway: dict[str, Any] = Field(default_factory=dict)
    recent_errors: list[Any] = Field(default_factory=list)


class HardenResult(Output):
    ok: bool
    changes: list[str] = Field(
        description="What this run had to change; empty when nothing had drifted."
    )


class AgentUpgrade(Output):
    status: Literal["current", "upgrading"] = Field(
        description="current: the agent already runs the published version; upgrading: it "
        "is installing it and will reconnect on it."
    )
    version: str = Field(description="The published version.")


# --- deploys -----------------------------------------------------------------------------


class DeployCreate(Input):
    ref: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = Field(
        default=None,
        description="Branch, tag or commit to deploy; the repo's default branch if omitted.",
    )


class PlannedChange(Output):
    resource: str
    action: Literal["create", "reuse", "upsert", "delete"]
    detail: str


class DeployPlan(Output):
    """What `deploy` would do, without doing it."""

    environment_id: str
    url: str
    changes: list[PlannedChange]
    monthly_cost_usd: float = Field(description="Estimated VM list price per month; 0 for local.")
    blocked_by: str | None = Field(
        description="An active deploy that would make a new one wait (409)."
    )


class DeployPublic(Output):
    id: str
    action: DeployAction
    environment_id: str
    repo_id: str
    ref: str
    commit_sha: str | None
    status: DeployStatus
    steps: list[StepRecord]
    failure: DeployFailure | None
    run_url: str | None
    url: str | None
    requested_by: str
    interface: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    image_version: str | None = Field(
        default=None, description="A rollback's image version (deployed without a build)."
    )
    rollback_to: int | None = Field(default=None, description="The release a rollback restores.")
    resize_to: str | None = Field(default=None, description="A resize's new server type.")
    release_number: int | None = Field(
        default=None, description="The release this deploy made, once it succeeded."
    )


# --- releases ----------------------------------------------------------------------------

ReleaseNumber = Annotated[int, Field(ge=1, le=10**9, description="A release's number, from 1.")]


class ReleasePublic(Output):
    number: int
    environment_id: str
    commit_sha: str
    image_tag: str = Field(description="The image's version in the registry (Kamal's --version).")
    ref: str
    deploy_id: str
    action: DeployAction = Field(description="deploy, reset or rollback.")
    rollback_of: int | None = Field(description="For a rollback: the release it brought back.")
    requested_by: str
    interface: str
    created_at: datetime
    current: bool = Field(default=False, description="True for the release that runs now.")

    @classmethod
    def listing(cls, newest_first: list[Any]) -> list[ReleasePublic]:
        """An environment's releases, newest first: the first is the one that runs."""
        return [
            cls.model_validate(r).model_copy(update={"current": i == 0})
            for i, r in enumerate(newest_first)
        ]


class RollbackCreate(Input):
    release: ReleaseNumber | None = Field(
        default=None,
        description="The release to roll back to; default: the newest one that ran another "
        "image than the current.",
    )


class RollbackPlan(Output):
    """What `rollback` would deploy, without doing it."""

    environment_id: str
    release: int = Field(description="The release whose image would be deployed again.")
    image_tag: str
    commit_sha: str
    current_release: int
    current_image_tag: str
    blocked_by: str | None = Field(
        description="An active deploy that would make the rollback wait (409)."
    )


# --- resize ------------------------------------------------------------------------------


class ResizePlan(Output):
    """What a resize would do, without doing it: the size and monthly price change."""

    environment_id: str
    from_server_type: str
    to_server_type: str
    from_monthly_usd: float
    to_monthly_usd: float
    monthly_change_usd: float
    disk_gb: int = Field(description="The disk stays this size, so a resize back stays possible.")
    downtime: str
    blocked_by: str | None = Field(description="An active deploy that would make it wait (409).")


# --- credentials -------------------------------------------------------------------------

CredentialName = Literal["deploy_key", "agent_token"]


class RotateCredentials(Input):
    credential: CredentialName = Field(
        description="deploy_key: the SSH key GitHub Actions deploys with (a new ed25519 key; "
        "the VM accepts the old one until the new one is in place). agent_token: the "
        "token the VM's agent connects with (the old one is refused once the agent has "
        "reconnected with the new one)."
    )


class RotationResult(Output):
    credential: CredentialName
    status: Literal["rotated", "pending", "old_key_still_authorized"] = Field(
        description="rotated: done, the old credential is refused; pending: the agent has "
        "the new token but has not reconnected yet (the old one works until it does); "
        "old_key_still_authorized: the new key is in use but the VM could not be told to "
        "drop the old one (the next deploy or harden does)."
    )
    public_key: str | None = Field(
        default=None, description="The new deploy key's public half (OpenSSH)."
    )
    detail: str


# --- audit -------------------------------------------------------------------------------


class AuditEventPublic(Output):
    id: str
    actor: str
    key_id: str | None
    interface: Interface
    action: str
    target_type: str
    target_id: str
    details: dict[str, Any]
    created_at: datetime


# --- identity ----------------------------------------------------------------------------


class WhoAmI(Output):
    workspace_id: str
    actor: str
    scope: Scope
    role: Role | None = None
    key_id: str | None = None
    environment_ids: list[str] = Field(default_factory=list)


class WorkspaceBootstrap(Output):
    workspace_id: str
    name: str
    api_key: str = Field(description="The first admin key. Shown once.")
