"""The deploy state machine's steps (statemachines/deploy.asl.json, teardown.asl.json).

Each function is one Task state. They take only ids from the execution's input and
return only small, non-secret facts: secrets are decrypted inside the step that
uses them and never enter a state's input or output. Every step is idempotent, so a
retried or re-run deploy reuses the VM, the record and the secrets that exist.

Waiting states park their task token *before* starting what will resume them (the
PR, the harden call, the workflow run), so a fast reply can never arrive first.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from vmkit import agentrpc, auth, credentials
from vmkit.deps import Deps
from vmkit.errors import AgentUnavailable, Conflict, Forbidden, InvalidInput, VMKitError
from vmkit.ids import new_id
from vmkit.modelbase import Model
from vmkit.models import (
    ComputeTarget,
    Deploy,
    DeployAction,
    DeployFailure,
    DeployStatus,
    Environment,
    Instance,
    InstanceStatus,
    OnboardingState,
    Repo,
    StepRecord,
    utcnow,
)
from vmkit.services import environments, installations, repos, waits
from vmkit.services.outcomes import finish_deploy, record_release
from vmkit.store import WaitFor

WORKFLOW_FILE = "vmkit-deploy.yml"
WORKFLOW_PATH = f".github/workflows/{WORKFLOW_FILE}"
SSH_KEY_SECRET = "VMKIT_SSH_PRIVATE_KEY"  # noqa: S105 (the secret's name)
INSTANCE_LABEL = "vmkit.dev/instance"
MANAGED_LABEL = "vmkit.dev/managed"
LOCAL_MACHINE_LABEL = "vmkit.dev/local-machine"
PR_DEADLINE = timedelta(days=8)
WAIT_TTL_S = {"pr": 8 * 24 * 3600, "agent": 3600, "harden": 3600, "workflow": 6 * 3600}
WAIT_STATUS: dict[WaitFor, DeployStatus] = {
    "pr": DeployStatus.waiting_for_pr,
    "agent": DeployStatus.waiting_for_agent,
    "harden": DeployStatus.waiting_for_harden,
    "workflow": DeployStatus.waiting_for_workflow,
}


class StepInput(Model):
    deploy_id: str
    workspace_id: str
    task_token: str | None = None
    error: dict[str, Any] | None = None  # what a Catch put in `$.error`

    def __repr__(self) -> str:
        return f"StepInput({self.deploy_id})"


class Context:
    """The records a step works on, read once."""

    def __init__(self, deps: Deps, step: StepInput):
        self.deps = deps
        self.deploy = deps.store.get(Deploy, step.workspace_id, step.deploy_id)
        self.env = deps.store.get(Environment, step.workspace_id, self.deploy.environment_id)
        self.repo = deps.store.get(Repo, step.workspace_id, self.deploy.repo_id)
        self.target = deps.store.get(ComputeTarget, step.workspace_id, self.env.compute_target_id)

    def instance(self) -> Instance | None:
        if not self.env.instance_id:
            return None
        return self.deps.store.find(Instance, self.env.workspace_id, self.env.instance_id)

    def record(
        self,
        step: str,
        status: str,
        detail: str | None = None,
        deploy_status: DeployStatus | None = None,
    ) -> None:
        if deploy_status is not None:
            self.deploy.transition(deploy_status)
        self.deploy.steps.append(StepRecord(name=step, status=status, detail=detail))  # type: ignore[arg-type]
        self.deps.store.save(self.deploy)

    def wait(self, step: str, what: WaitFor, token: str, detail: str) -> None:
        waits.park(
            self.deps,
            self.deploy.id,
            what,
            token,
            ttl_seconds=WAIT_TTL_S[what],
            repo_id=self.repo.id if what == "pr" else None,
        )
        if what == "pr":  # people take days to review: the sweeper must not give up sooner
            self.deploy.deadline_at = utcnow() + PR_DEADLINE
        self.record(step, "waiting", detail, WAIT_STATUS[what])


def _running(ctx: Context) -> None:
    if ctx.deploy.status.terminal:
        raise Conflict(
            f"deploy {ctx.deploy.id} already ended ({ctx.deploy.status.value})", code="deploy_ended"
        )


# --- the deploy -----------------------------------------------------------------------------


def load_context(deps: Deps, step: StepInput) -> dict[str, Any]:
    """Start: mark the deploy running and pin the commit that will be deployed."""
    ctx = Context(deps, step)
    _running(ctx)
    if ctx.deploy.action is DeployAction.teardown:
        ctx.record("LoadContext", "succeeded", "tearing down", DeployStatus.running)
        return {"action": ctx.deploy.action.value}
    if ctx.deploy.action is DeployAction.resize:
        ctx.record(
            "LoadContext",
            "succeeded",
            f"resizing {ctx.env.name} from {ctx.env.server_type} to {ctx.deploy.resize_to}",
            DeployStatus.running,
        )
        return {"action": ctx.deploy.action.value}
    ref = ctx.deploy.ref or ctx.repo.default_branch
    if ctx.deploy.action is DeployAction.rollback:
        # The commit is the release's; the branch head only supplies workflow and config.
        repos.forge(deps, ctx.repo).default_branch_sha(ref)
        ctx.record(
            "LoadContext",
            "succeeded",
            f"rolling {ctx.repo.full_name} back to release {ctx.deploy.rollback_to} "
            f"({(ctx.deploy.image_version or '')[:7]}), with the config of {ref}",
            DeployStatus.running,
        )
        return {"action": ctx.deploy.action.value}
    ctx.deploy.commit_sha = repos.forge(deps, ctx.repo).default_branch_sha(ref)
    ctx.record(
        "LoadContext",
        "succeeded",
        f"{ctx.repo.full_name}@{ref} ({ctx.deploy.commit_sha[:7]})",
        DeployStatus.running,
    )
    return {"action": ctx.deploy.action.value}


def check_onboarding(deps: Deps, step: StepInput) -> dict[str, Any]:
    """Is the VMKit workflow on the branch being deployed? If not, onboarding comes first."""
    ctx = Context(deps, step)
    ref = ctx.deploy.ref or ctx.repo.default_branch
    onboarded = repos.forge(deps, ctx.repo).file_exists(WORKFLOW_PATH, ref)
    if onboarded and ctx.repo.onboarding not in (
        OnboardingState.merged,
        OnboardingState.already_onboarded,
    ):
        ctx.repo.onboarding = OnboardingState.already_onboarded
        deps.store.save(ctx.repo)
    ctx.record(
        "CheckOnboarding",
        "succeeded",
        "workflow present" if onboarded else f"{WORKFLOW_PATH} missing",
    )
    return {"onboarded": onboarded}


def open_onboarding_pr(deps: Deps, step: StepInput) -> None:
    """Wait for the onboarding PR to be merged (opening or updating it first)."""
    from vmkit.services import onboarding

    ctx = Context(deps, step)
    assert step.task_token
    ctx.wait(
        "OpenOnboardingPR", "pr", step.task_token, "waiting for the onboarding PR to be merged"
    )
    pr = onboarding.open_pull_request(deps, ctx.repo, ctx.env)
    ctx.record("OpenOnboardingPR", "waiting", f"merge {pr.url} to continue")


def destroy_instance(deps: Deps, step: StepInput) -> dict[str, Any]:
    """For a reset or a teardown: delete the VM; keep DNS and env config (reset)."""
    ctx = Context(deps, step)
    instance = ctx.instance()
    if instance is None:
        ctx.record("DestroyInstance", "skipped", "no VM")
        return {}
    servers = _destroy(deps, ctx, instance)
    ctx.record(
        "DestroyInstance", "succeeded", f"deleted server {', '.join(servers) or '(none found)'}"
    )
    return {}


def _destroy(deps: Deps, ctx: Context, instance: Instance) -> list[str]:
    """Delete the instance's server(s) and detach it from the environment."""
    compute = deps.compute(ctx.target)
    servers = (
        [instance.provider_server_id]
        if instance.provider_server_id
        else [s.id for s in compute.find_servers({INSTANCE_LABEL: instance.id})]
    )
    for server_id in servers:
        compute.delete_server(server_id)
    deps.store.set_fields(
        instance, status=InstanceStatus.destroyed, agent_connected=False, connection_id=None
    )
    ctx.env.instance_id = None
    deps.store.save(ctx.env)
    return servers


def ensure_instance(deps: Deps, step: StepInput) -> dict[str, Any]:
    """Reuse the environment's VM or create one whose cloud-init installs the agent."""
    ctx = Context(deps, step)
    instance = ctx.instance()
    if instance and instance.provider_server_id and instance.status is not InstanceStatus.destroyed:
        if instance.agent_version or instance.created_at >= ctx.deploy.created_at:
            ctx.record("EnsureInstance", "succeeded", f"reusing {instance.id} ({instance.ip})")
            return {"provisioned": False}
        # An earlier deploy made this VM and its agent never registered: it never came
        # up. Waiting on it again would fail the same way; replace it.
        _destroy(deps, ctx, instance)
        instance = None
    if instance is None or instance.status is InstanceStatus.destroyed:
        instance = Instance(
            id=new_id("instance"),
            workspace_id=ctx.env.workspace_id,
            environment_id=ctx.env.id,
            compute_target_id=ctx.target.id,
            provider=ctx.target.provider,
            server_type=ctx.env.server_type,
            region=ctx.env.region,
        )
        deps.store.create(instance)
        ctx.env.instance_id = instance.id
        deps.store.save(ctx.env)
    compute = deps.compute(ctx.target)
    # A retried attempt may already have made the server: adopt it (its user data
    # holds the token whose verifier is stored) rather than make a second one.
    existing = compute.find_servers({INSTANCE_LABEL: instance.id})
    if existing:
        server = existing[0]
    else:
        issued = auth.issue(auth.AGENT_TOKEN_PREFIX)
        deps.store.set_fields(
            instance, agent_token_id=issued.key_id, agent_verifier=issued.verifier
        )
        server = compute.create_server(
            name=f"{ctx.repo.slug}-{ctx.env.slug}-{instance.id[-6:].lower()}",
            server_type=ctx.env.server_type,
            region=ctx.env.region,
            user_data=_user_data(deps, instance, issued.plaintext),
            labels={MANAGED_LABEL: "true", INSTANCE_LABEL: instance.id, **_machine(ctx.target)},
        )
    deps.store.set_fields(
        instance,
        provider_server_id=server.id,
        ip=server.ip,
        status=InstanceStatus.running,
        disk_gb=_disk_gb(ctx.target, ctx.env.server_type),
    )
    ctx.record("EnsureInstance", "succeeded", f"created server {server.id} ({server.ip})")
    return {"provisioned": True}


def _disk_gb(target: ComputeTarget, server_type: str) -> int | None:
    from vmkit import catalog

    try:
        return catalog.server_type(target.provider, server_type).disk_gb
    except InvalidInput:
        return None


def resize_instance(deps: Deps, step: StepInput) -> dict[str, Any]:
    """Give the VM the deploy's size through the provider (stop, change type keeping the
    disk, start); WaitForAgent then waits for its agent to come back."""
    ctx = Context(deps, step)
    instance = ctx.instance()
    size = ctx.deploy.resize_to
    if instance is None or not instance.provider_server_id or not size:
        raise Conflict("the environment has no VM to resize", code="no_instance")
    before = instance.server_type
    if before != size:
        # The agent goes down with the VM: WaitForAgent must wait for it to come back,
        # not see the connection that is about to drop.
        agentrpc.mark_gone(deps, instance, connection_id=instance.connection_id)
        server = deps.compute(ctx.target).resize_server(instance.provider_server_id, size)
        deps.store.set_fields(instance, server_type=server.server_type or size, ip=server.ip)
    while True:
        ctx.env.server_type = size
        try:
            deps.store.save(ctx.env)
            break
        except Conflict:
            ctx.env = deps.store.get(Environment, ctx.env.workspace_id, ctx.env.id)
    ctx.record("ResizeInstance", "succeeded", f"{before} → {size}, disk kept")
    return {}


def _machine(target: ComputeTarget) -> dict[str, str]:
    """A `local` target's choice of machine, for the local stack's simulator to read."""
    return {LOCAL_MACHINE_LABEL: target.local_machine.value} if target.local_machine else {}


def _user_data(deps: Deps, instance: Instance, agent_token: str) -> str:
    from vmkit import cloudinit

    agent = deps.artifacts.published()
    return cloudinit.render_user_data(
        agent_token=agent_token,
        gateway_url=deps.settings.agent_gateway_url,
        instance_id=instance.id,
        agent_download_url=agent.download_url,
        agent_sha256=agent.checksum_sha256,
    )


def wait_for_agent(deps: Deps, step: StepInput) -> None:
    """Wait until the VM's agent has dialled in and registered."""
    ctx = Context(deps, step)
    assert step.task_token
    instance = ctx.instance()
    ctx.wait("WaitForAgent", "agent", step.task_token, "waiting for the agent to connect")
    if instance and instance.agent_connected:
        waits.resume(deps, ctx.deploy.id, "agent", output={"agent_version": instance.agent_version})


def harden_instance(deps: Deps, step: StepInput) -> None:
    """Ask the agent to harden the VM: kamal user, deploy key, sshd, firewall."""
    ctx = Context(deps, step)
    assert step.task_token
    instance = ctx.instance()
    if instance is None:
        raise AgentUnavailable("the environment has no VM to harden")
    ctx.wait("HardenInstance", "harden", step.task_token, "the agent is hardening the VM")
    agentrpc.send(
        deps,
        instance,
        "harden",
        environments.harden_params(deps, ctx.env, ctx.target),
        resumes=(ctx.deploy.id, "harden"),
    )


def ensure_dns(deps: Deps, step: StepInput) -> dict[str, Any]:
    ctx = Context(deps, step)
    instance = ctx.instance()
    assert instance and instance.ip
    deps.dns().upsert_a_record(ctx.env.hostname, instance.ip)
    ctx.record(
        "EnsureDNS", "succeeded", f"{ctx.env.hostname} → {instance.ip}", DeployStatus.running
    )
    return {}


def ensure_deploy_secrets(deps: Deps, step: StepInput) -> dict[str, Any]:
    """The deploy key and the environment's variables, as Actions secrets and variables."""
    ctx = Context(deps, step)
    forge = repos.forge(deps, ctx.repo)
    forge.set_secret(
        SSH_KEY_SECRET, credentials.actions_deploy_key(deps.sealer, ctx.env, ctx.target)
    )
    values = credentials.env_var_values(deps.sealer, ctx.env)
    for var in ctx.env.env_vars:
        if var.secret:
            forge.set_secret(var.name, values[var.name])
        else:
            forge.set_variable(var.name, values[var.name])
    ctx.record(
        "EnsureDeploySecrets",
        "succeeded",
        f"{SSH_KEY_SECRET} and {len(ctx.env.env_vars)} variables",
    )
    return {}


def dispatch_workflow(deps: Deps, step: StepInput) -> None:
    """Run the repo's VMKit workflow; the `workflow_run` webhook resumes the deploy."""
    ctx = Context(deps, step)
    assert step.task_token
    instance = ctx.instance()
    assert instance and instance.ip
    inputs = {"deploy_id": ctx.deploy.id, "environment": ctx.env.slug, "server_host": instance.ip}
    if ctx.deploy.image_version:  # a rollback: the workflow deploys this image and builds nothing
        inputs["version"] = ctx.deploy.image_version
    ctx.wait(
        "DispatchWorkflow",
        "workflow",
        step.task_token,
        f"GitHub Actions is deploying the image {ctx.deploy.image_version[:12]}"
        if ctx.deploy.image_version
        else "GitHub Actions is building and deploying",
    )
    repos.forge(deps, ctx.repo).dispatch_workflow(
        WORKFLOW_FILE, ctx.deploy.ref or ctx.repo.default_branch, inputs
    )


def mark_succeeded(deps: Deps, step: StepInput) -> dict[str, Any]:
    ctx = Context(deps, step)
    url = None
    if ctx.deploy.action is DeployAction.teardown:
        environments.forget_environment(deps, ctx.env)
    else:
        url = deps.settings.apps_url_template.format(hostname=ctx.env.hostname)
        if ctx.deploy.action is not DeployAction.resize:  # a resize ships no new release
            record_release(deps, ctx.deploy)
    deploy = finish_deploy(
        deps,
        ctx.deploy,
        DeployStatus.succeeded,
        step=StepRecord(name="Done", status="succeeded", detail=url),
        url=url,
    )
    return {"url": deploy.url}


def mark_failed(deps: Deps, step: StepInput) -> dict[str, Any]:
    """The Catch of every state: record which step failed and why, release the environment."""
    ctx = Context(deps, step)
    failure = ctx.deploy.failure or _with_run_error(
        deps, ctx, _failure(ctx.deploy, step.error or {})
    )
    finish_deploy(  # a deploy cancelled while a step ran keeps the cancel's reason
        deps,
        ctx.deploy,
        DeployStatus.failed,
        failure,
        step=StepRecord(name=failure.step, status="failed", detail=failure.reason),
    )
    return {}


def _failure(deploy: Deploy, error: dict[str, Any]) -> DeployFailure:
    """Which step failed and why, from the Catch's error and what the steps recorded."""
    name, cause = error.get("Error", "States.TaskFailed"), error.get("Cause") or ""
    waiting = next((s.name for s in reversed(deploy.steps) if s.status == "waiting"), None)
    if name == "States.Timeout" and waiting:
        return DeployFailure(
            step=waiting,
            reason=f"{waiting} timed out: {TIMEOUT_HINTS.get(waiting, '')}".rstrip(": "),
        )
    if deploy.last_error is not None:
        return deploy.last_error
    try:
        message = json.loads(cause).get("errorMessage", cause)
    except (ValueError, AttributeError):
        message = cause
    return DeployFailure(step=waiting or "unknown", reason=message or name)


def _with_run_error(deps: Deps, ctx: Context, failure: DeployFailure) -> DeployFailure:
    """A failed Actions run's own error (a workflow's `::error::`, such as a rollback's
    image missing from the registry) in the reason, so it says why without the log.

    Best effort: if GitHub cannot be asked, the reason stays the run's conclusion."""
    if failure.step != "DispatchWorkflow" or ctx.deploy.workflow_run_id is None:
        return failure
    try:
        errors = repos.forge(deps, ctx.repo).run_errors(ctx.deploy.workflow_run_id)
    except VMKitError:  # GitHub down, the repo out of reach, the App key not readable
        return failure
    if not errors:
        return failure
    return DeployFailure(step=failure.step, reason=f"{errors[0]} ({failure.reason})")


TIMEOUT_HINTS = {
    "WaitForAgent": "the VM's agent never connected; check outbound HTTPS from the VM and "
    "`journalctl -u vmkit-agent` on it",
    "HardenInstance": "the agent did not finish hardening the VM",
    "DispatchWorkflow": "the GitHub Actions run did not finish in time",
    "OpenOnboardingPR": "the onboarding pull request was not merged in time",
}


# --- teardown --------------------------------------------------------------------------------


def delete_dns(deps: Deps, step: StepInput) -> dict[str, Any]:
    ctx = Context(deps, step)
    deleted = deps.dns().delete_records(ctx.env.hostname)
    ctx.record("DeleteDNS", "succeeded", f"{deleted} record(s) for {ctx.env.hostname}")
    return {}


def delete_deploy_secrets(deps: Deps, step: StepInput) -> dict[str, Any]:
    """Remove what VMKit put in the repo's Actions settings; the repo's files stay."""
    ctx = Context(deps, step)
    try:
        installations.require_access(deps, ctx.repo)
    except Forbidden as exc:  # the VM and DNS go regardless; the secrets are out of reach
        ctx.record("DeleteDeploySecrets", "skipped", exc.message)
        return {}
    forge = deps.forge(ctx.repo)
    for name in [SSH_KEY_SECRET, *(v.name for v in ctx.env.env_vars if v.secret)]:
        forge.delete_secret(name)
    ctx.record("DeleteDeploySecrets", "succeeded", "Actions secrets removed")
    return {}
