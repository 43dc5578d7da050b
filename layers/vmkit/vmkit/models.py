"""The domain's records, as stored in DynamoDB.

These are the internal shapes: some hold sealed secrets (`EncryptedValue`) and
credential hashes. What callers see is in `vmkit.schemas`, which never carries
either, so a route cannot leak a ciphertext by returning the wrong model.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field

from vmkit.errors import Conflict
from vmkit.modelbase import Model


def utcnow() -> datetime:
    return datetime.now(UTC)


class Record(Model):
    """A row of the single table: `kind` names its sort-key prefix (`ENV`, `DEPLOY` …)."""

    kind: ClassVar[str]
    model_config = ConfigDict(extra="ignore")

    id: str
    workspace_id: str
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    # Optimistic concurrency: every update is conditional on the version it read.
    version: int = 0


class EncryptedValue(Model):
    """A KMS envelope: data key sealed by KMS, payload sealed by AES-256-GCM."""

    v: Literal[1] = 1
    edk: str  # base64 of the KMS-encrypted data key
    nonce: str  # base64, 96 bits, fresh per seal
    ct: str  # base64 of ciphertext || GCM tag


# --- people and access ---------------------------------------------------------------


class Role(StrEnum):
    owner = "owner"
    admin = "admin"
    deployer = "deployer"
    viewer = "viewer"


class Scope(StrEnum):
    read = "read"
    deploy = "deploy"
    admin = "admin"


# Each scope includes the ones before it: admin can deploy, deploy can read.
SCOPE_RANK = {Scope.read: 0, Scope.deploy: 1, Scope.admin: 2}
ROLE_SCOPE = {
    Role.owner: Scope.admin,
    Role.admin: Scope.admin,
    Role.deployer: Scope.deploy,
    Role.viewer: Scope.read,
}


class Workspace(Record):
    kind: ClassVar[str] = "WORKSPACE"
    name: str
    slug: str
    personal_for: str | None = None  # user id, for the workspace made at first login


class User(Model):
    id: str
    github_id: int | None = None
    login: str
    name: str | None = None
    email: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Member(Record):
    """A person's role in a workspace, or an invitation to one.

    A member's id is their user id: one membership per user per workspace. An
    invitation is made by GitHub login before VMKit knows the person; its id is
    `invite_{login}` (lowercase, as GitHub logins are case-insensitive) and it turns
    into a membership the first time that login signs in (`vmkit.services.members`).
    """

    kind: ClassVar[str] = "MEMBER"
    login: str
    role: Role
    pending: bool = False
    invited_by: str | None = None


class HashedSecret(Model):
    """A credential's verifier: salted SHA-256 of a high-entropy secret, never the secret."""

    salt: str
    digest: str


class ApiKey(Record):
    kind: ClassVar[str] = "KEY"
    # id is the key id embedded in the key (`vmk_{id}_{secret}`).
    name: str
    scopes: list[Scope]
    environment_ids: list[str] = Field(default_factory=list)  # empty: all environments
    verifier: HashedSecret
    created_by: str
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    expires_at: int | None = None  # TTL (epoch seconds) once revoked, to clean up

    @property
    def top_scope(self) -> Scope:
        return max(self.scopes, key=SCOPE_RANK.__getitem__)


class Session(Record):
    kind: ClassVar[str] = "SESSION"
    user_id: str
    verifier: HashedSecret
    expires_at: int
    # The user's GitHub token from sign-in, sealed: it proves which App installations
    # the user may access when they claim one (`GET /user/installations`).
    github_token: EncryptedValue | None = None


# --- what gets deployed, and where ---------------------------------------------------


class Provider(StrEnum):
    hetzner = "hetzner"
    digitalocean = "digitalocean"
    local = "local"


class LocalMachine(StrEnum):
    """What serves a `local` target's servers: a sandbox directory, or a qemu guest."""

    sandbox = "sandbox"
    vm = "vm"


class ComputeTarget(Record):
    kind: ClassVar[str] = "TARGET"
    name: str
    provider: Provider
    token: EncryptedValue | None = None  # `local` needs none
    token_hint: str | None = None
    default_region: str
    deploy_public_key: str | None = None  # ed25519, OpenSSH format
    deploy_private_key: EncryptedValue | None = None
    # `local` only: what the local stack boots for a server (None: the stack's default).
    local_machine: LocalMachine | None = None


class Installation(Record):
    """A GitHub App installation this workspace has claimed (one workspace per installation).

    The id is GitHub's installation id. Repos are connected only through an installation
    their workspace holds, and only while it covers them.
    """

    kind: ClassVar[str] = "INSTALLATION"
    account_login: str
    account_type: str
    repository_selection: str
    suspended: bool = False
    claimed_by: str
    claimed_via: Literal["setup_url", "github_user", "operator"]


class RepoAccess(StrEnum):
    """Whether VMKit may still act on a connected repo through its installation."""

    active = "active"
    suspended = "suspended"  # the installation is suspended on GitHub
    removed = "removed"  # uninstalled, released, or the repo was taken out of it


class OnboardingState(StrEnum):
    not_started = "not_started"
    pr_open = "pr_open"
    merged = "merged"
    already_onboarded = "already_onboarded"


class Repo(Record):
    kind: ClassVar[str] = "REPO"
    owner: str
    name: str
    slug: str
    github_repo_id: int | None = None
    installation_id: int | None = None
    access: RepoAccess = RepoAccess.active
    access_reason: str | None = None  # why access is not active, for the person to act on
    default_branch: str = "main"
    scan: dict[str, Any] | None = None
    onboarding: OnboardingState = OnboardingState.not_started
    onboarding_pr_number: int | None = None
    onboarding_pr_url: str | None = None
    generation: dict[str, Any] | None = None  # model, prompt version, token usage

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


class EnvVar(Model):
    name: str
    secret: bool = False
    value: str | None = None  # plain values only
    sealed: EncryptedValue | None = None  # secret values only


class DeployKey(Model):
    """An environment's own deploy key (after its first rotation, it replaces the
    target's), or the one a rotation is bringing in (`stage` below `current`)."""

    key_id: str
    public_openssh: str
    sealed_private: EncryptedValue
    stage: Literal["created", "authorized", "secret_set", "current"] = "current"


class Environment(Record):
    kind: ClassVar[str] = "ENV"
    repo_id: str
    name: str
    slug: str
    compute_target_id: str
    server_type: str
    region: str
    hostname: str
    env_vars: list[EnvVar] = Field(default_factory=list)
    instance_id: str | None = None
    active_deploy_id: str | None = None
    # Networks SSH (22) is open to besides GitHub's hosted runners (harden's default).
    ssh_allow_from: list[str] = Field(default_factory=list)
    deploy_key: DeployKey | None = None  # None: the compute target's key
    pending_deploy_key: DeployKey | None = None  # a rotation under way (services/rotation)
    deploy_key_rotated_at: datetime | None = None


# 48 heartbeats, four minutes apart: the last three hours or so.
METRICS_HISTORY_SAMPLES = 48


class InstanceStatus(StrEnum):
    provisioning = "provisioning"
    running = "running"
    destroyed = "destroyed"
    error = "error"


class Instance(Record):
    """A VM. Two writers share it, each through `Store.set_fields` on its own fields:
    the deploy steps (provider id, address, status) and the agent's connection
    handlers (connection, version, heartbeat, metrics). A whole-record `save` from
    one would undo the other's concurrent write."""

    kind: ClassVar[str] = "INSTANCE"
    environment_id: str
    compute_target_id: str
    provider: Provider
    provider_server_id: str | None = None
    ip: str | None = None
    server_type: str
    region: str
    status: InstanceStatus = InstanceStatus.provisioning
    agent_token_id: str | None = None
    agent_verifier: HashedSecret | None = None
    # A rotated token not yet presented at $connect (same token id, new secret).
    pending_agent_verifier: HashedSecret | None = None
    agent_token_rotated_at: datetime | None = None
    agent_connected: bool = False
    agent_version: str | None = None
    agent_info: dict[str, Any] = Field(default_factory=dict)
    connection_id: str | None = None
    connected_at: datetime | None = None
    last_seen_at: datetime | None = None
    metrics: dict[str, Any] | None = None
    metrics_at: datetime | None = None
    # The last few samples (cpu, mem, disk), for the dashboard's chart of recent heartbeats.
    metrics_history: list[dict[str, Any]] = Field(default_factory=list)
    hardened_at: datetime | None = None
    disk_gb: int | None = None  # kept across resizes (never grown), so a resize down works

    def history_with(self, metrics: dict[str, Any], at: datetime) -> list[dict[str, Any]]:
        """The history with this sample added, the oldest dropped past the limit."""
        sample = {"at": at.isoformat()}
        for name in ("cpu_pct", "mem_pct", "disk_pct"):
            value = metrics.get(name)
            sample[name] = float(value) if isinstance(value, int | float) else None
        return [*self.metrics_history, sample][-METRICS_HISTORY_SAMPLES:]


# --- deploys ---------------------------------------------------------------------------


class DeployStatus(StrEnum):
    queued = "queued"
    running = "running"
    waiting_for_pr = "waiting_for_pr"
    waiting_for_agent = "waiting_for_agent"
    waiting_for_harden = "waiting_for_harden"
    waiting_for_workflow = "waiting_for_workflow"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @property
    def waiting(self) -> bool:
        return self.value.startswith("waiting_")


TERMINAL_STATUSES = frozenset({DeployStatus.succeeded, DeployStatus.failed, DeployStatus.cancelled})
_ACTIVE_NEXT = frozenset(DeployStatus) - {DeployStatus.queued}
ALLOWED_TRANSITIONS: dict[DeployStatus, frozenset[DeployStatus]] = {
    DeployStatus.queued: frozenset(
        {DeployStatus.running, DeployStatus.failed, DeployStatus.cancelled}
    ),
    **{s: _ACTIVE_NEXT for s in DeployStatus if s is not DeployStatus.queued},
    **{s: frozenset() for s in TERMINAL_STATUSES},
}


class StepRecord(Model):
    name: str
    status: Literal["started", "succeeded", "failed", "waiting", "skipped"]
    at: datetime = Field(default_factory=utcnow)
    detail: str | None = None


class DeployFailure(Model):
    step: str
    reason: str


class DeployAction(StrEnum):
    deploy = "deploy"
    reset = "reset"  # rebuild the VM first; DNS and env config are kept
    teardown = "teardown"  # destroy VM, DNS record and Actions secrets
    rollback = "rollback"  # deploy an earlier release's image again, without building it
    resize = "resize"  # give the VM another size (provider's change_type, disk kept)


class Deploy(Record):
    """One run of a state machine for an environment: a deploy, a reset or a teardown."""

    kind: ClassVar[str] = "DEPLOY"
    action: DeployAction = DeployAction.deploy
    environment_id: str
    repo_id: str
    ref: str
    commit_sha: str | None = None
    status: DeployStatus = DeployStatus.queued
    steps: list[StepRecord] = Field(default_factory=list)
    failure: DeployFailure | None = None
    execution_arn: str | None = None
    workflow_run_id: int | None = None
    run_url: str | None = None
    url: str | None = None
    requested_by: str
    interface: str
    deadline_at: datetime | None = None
    finished_at: datetime | None = None
    # The latest error a step raised (retried or not); MarkFailed reads it to name the
    # step that failed, since a Catch only passes on the error itself.
    last_error: DeployFailure | None = None
    # A rollback's image tag (the workflow's `version` input, so it skips the build)
    # and the release it brings back; None for a deploy, which builds its commit.
    image_version: str | None = None
    rollback_to: int | None = None
    release_number: int | None = None  # the release this deploy made, once it succeeded
    resize_to: str | None = None  # a resize's new server type

    def transition(self, status: DeployStatus) -> None:
        """Move along the status machine; a terminal deploy never changes again."""
        if status is self.status and not status.terminal:
            return
        if status not in ALLOWED_TRANSITIONS[self.status]:
            raise Conflict(
                f"deploy {self.id} is {self.status.value} and cannot become {status.value}",
                code="invalid_transition",
            )
        self.status = status
        if status.terminal:
            self.finished_at = utcnow()


class Release(Record):
    """What an environment ran after a succeeded deploy: the list a rollback picks from.

    The id is `{environment id}.{number:06d}`, so an environment's releases are one
    consistent, ordered query of the base table, and a number is taken once (the
    create is conditional).
    """

    kind: ClassVar[str] = "RELEASE"
    environment_id: str
    number: int
    commit_sha: str
    image_tag: str  # the image's version in the registry (Kamal's `--version`)
    ref: str
    deploy_id: str
    action: DeployAction
    rollback_of: int | None = None  # the release whose image a rollback brought back
    requested_by: str
    interface: str

    @staticmethod
    def id_for(environment_id: str, number: int) -> str:
        return f"{environment_id}.{number:06d}"


# --- audit -----------------------------------------------------------------------------


class Interface(StrEnum):
    rest = "rest"
    mcp = "mcp"
    cli = "cli"
    webhook = "webhook"
    agent = "agent"
    system = "system"


class AuditEvent(Record):
    kind: ClassVar[str] = "AUDIT"
    actor: str  # user id, "key:<id>", "github", "system"
    key_id: str | None = None
    interface: Interface
    action: str  # "environment.create"
    target_type: str
    target_id: str
    details: dict[str, Any] = Field(default_factory=dict)
