"""Deploys: start one (or a reset, or a teardown), follow it, cancel it, or plan it.

An environment runs one deploy at a time: starting a second while one is active is
refused with 409 and the id of the active one, rather than queued, so the caller
decides whether to wait or cancel. The state machine's execution is named after
the deploy id, so a duplicate start is refused by Step Functions as well.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from vmkit import catalog
from vmkit.auth import Principal
from vmkit.deps import Deps
from vmkit.errors import Conflict, InvalidInput, ProviderError
from vmkit.ids import new_id
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
    Scope,
    utcnow,
)
from vmkit.schemas import DeployCreate, DeployPlan, PlannedChange
from vmkit.services import audit, installations
from vmkit.services.outcomes import finish_deploy
from vmkit.store import Page

# How long a deploy may run before the sweeper fails it (waiting for a PR extends it).
DEPLOY_DEADLINE = timedelta(hours=2)


def list_deploys(
    deps: Deps,
    principal: Principal,
    *,
    environment_id: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[Deploy]:
    principal.require(Scope.read)
    if environment_id:
        principal.require_environment(environment_id)
        deps.store.get(Environment, principal.workspace_id, environment_id)
        deploys = deps.store.children(Deploy, environment_id, newest_first=True)
        return Page(deploys[:limit], None)
    page = deps.store.list(
        Deploy, principal.workspace_id, limit=limit, cursor=cursor, newest_first=True
    )
    return page.keep(lambda d: principal.may_see(d.environment_id))


def get_deploy(deps: Deps, principal: Principal, deploy_id: str) -> Deploy:
    principal.require(Scope.read)
    deploy = deps.store.get(Deploy, principal.workspace_id, deploy_id)
    principal.require_environment(deploy.environment_id)
    return deploy


def _environment_for_change(
    deps: Deps, principal: Principal, environment_id: str, scope: Scope
) -> Environment:
    principal.require(scope)
    principal.require_environment(environment_id)
    return deps.store.get(Environment, principal.workspace_id, environment_id)


def start_deploy(
    deps: Deps,
    principal: Principal,
    environment_id: str,
    data: DeployCreate,
    *,
    action: DeployAction = DeployAction.deploy,
    image_version: str | None = None,
    rollback_to: int | None = None,
    commit_sha: str | None = None,
    resize_to: str | None = None,
) -> Deploy:
    """Start a deploy, reset or teardown (or, from `releases.start_rollback`, a rollback:
    `image_version` is the image tag to deploy without building, `commit_sha` its commit)."""
    env = _environment_for_change(
        deps,
        principal,
        environment_id,
        Scope.admin if action is DeployAction.teardown else Scope.deploy,
    )
    repo = deps.store.get(Repo, principal.workspace_id, env.repo_id)
    if action is not DeployAction.teardown:  # a teardown still removes the VM and DNS
        installations.require_access(deps, repo)
    deploy = Deploy(
        id=new_id("deploy"),
        workspace_id=env.workspace_id,
        environment_id=env.id,
        repo_id=repo.id,
        action=action,
        ref=data.ref or repo.default_branch,
        requested_by=principal.actor,
        interface=principal.interface.value,
        deadline_at=utcnow() + DEPLOY_DEADLINE,
        image_version=image_version,
        rollback_to=rollback_to,
        commit_sha=commit_sha,
        resize_to=resize_to,
    )
    machine = (
        deps.settings.teardown_state_machine_arn
        if action is DeployAction.teardown
        else deps.settings.deploy_state_machine_arn
    )
    # Named after the deploy, so its ARN is known before it starts (the record is
    # complete before the first step reads it) and a duplicate start is refused.
    deploy.execution_arn = machine.replace(":stateMachine:", ":execution:") + f":{deploy.id}"
    _hold(deps, env, deploy.id)
    deps.store.create(deploy)
    try:
        deps.executions.start(machine, deploy.id, _execution_input(deps, deploy))
    except ProviderError as exc:
        failure = DeployFailure(step="start", reason=exc.message)
        finish_deploy(deps, deploy, DeployStatus.failed, failure)
        raise
    audit.record(
        deps,
        principal,
        f"{action.value}.start",
        "deploy",
        deploy.id,
        environment_id=env.id,
        ref=deploy.ref,
        **(
            {"release": rollback_to, "image_version": image_version}
            if rollback_to is not None
            else {}
        ),
        **({"server_type": resize_to} if resize_to else {}),
    )
    return deploy


def _hold(deps: Deps, env: Environment, deploy_id: str) -> None:
    """Take the environment for this deploy. Of two racing starts, the conditional save
    lets one win; the other reads the winner and is told its id."""
    while True:
        if env.active_deploy_id:
            raise _busy(env)
        env.active_deploy_id = deploy_id
        try:
            deps.store.save(env)
            return
        except Conflict:
            env = deps.store.get(Environment, env.workspace_id, env.id)


def _busy(env: Environment) -> Conflict:
    """The 409 a start gets while another deploy holds the environment (it names that one,
    so the caller can follow or cancel it)."""
    active = env.active_deploy_id
    return Conflict(
        f"{env.name} is busy with {active}; wait for it or cancel it "
        f"(POST /api/deploys/{active}/cancel)",
        code="deploy_in_progress",
        details={"active_deploy_id": active},
    )


def destroy_environment(
    deps: Deps, principal: Principal, environment_id: str, *, confirm: str | None = None
) -> Deploy:
    """Start the teardown of an environment: its VM, DNS record and Actions secrets.

    `confirm`, when given (MCP requires it, the dashboard asks for it), must be the
    environment's name, so an agent or a person cannot destroy one by a wrong id.
    """
    if confirm is not None:
        env = _environment_for_change(deps, principal, environment_id, Scope.admin)
        if confirm != env.name:
            raise InvalidInput(
                f"confirm must be the environment's name, '{env.name}'; nothing was destroyed",
                code="confirmation_mismatch",
            )
    return start_deploy(
        deps, principal, environment_id, DeployCreate(), action=DeployAction.teardown
    )


def _execution_input(deps: Deps, deploy: Deploy) -> dict[str, Any]:
    """Ids and timeouts only: no secret ever enters a state machine's payload."""
    s = deps.settings
    return {
        "deploy_id": deploy.id,
        "workspace_id": deploy.workspace_id,
        "timeouts": {
            "pr": s.pr_wait_seconds,
            "agent": s.agent_wait_seconds,
            "harden": s.harden_wait_seconds,
            "workflow": s.workflow_wait_seconds,
        },
    }


def cancel_deploy(deps: Deps, principal: Principal, deploy_id: str) -> Deploy:
    deploy = get_deploy(deps, principal, deploy_id)
    principal.require(Scope.deploy)
    if deploy.status.terminal:
        raise Conflict(f"deploy {deploy.id} already {deploy.status.value}", code="deploy_ended")
    reason = f"cancelled by {principal.actor}"
    deploy = finish_deploy(
        deps,
        deploy,
        DeployStatus.cancelled,
        DeployFailure(step=_current_step(deploy), reason=reason),
        stop_execution="Cancelled",
    )
    audit.record(deps, principal, f"{deploy.action.value}.cancel", "deploy", deploy.id)
    return deploy


def _current_step(deploy: Deploy) -> str:
    return deploy.steps[-1].name if deploy.steps else "queued"


def plan_deploy(deps: Deps, principal: Principal, environment_id: str) -> DeployPlan:
    """What a deploy would create or change, and what the VM costs a month. Changes nothing."""
    env = _environment_for_change(deps, principal, environment_id, Scope.read)
    repo = deps.store.get(Repo, principal.workspace_id, env.repo_id)
    target = deps.store.get(ComputeTarget, principal.workspace_id, env.compute_target_id)
    instance = (
        deps.store.find(Instance, env.workspace_id, env.instance_id) if env.instance_id else None
    )
    has_vm = instance is not None and instance.status is not InstanceStatus.destroyed
    size = catalog.server_type(target.provider, env.server_type)
    changes = []
    if repo.onboarding not in (OnboardingState.merged, OnboardingState.already_onboarded):
        changes.append(
            PlannedChange(
                resource="onboarding pull request",
                action="create",
                detail=f"adds the VMKit workflow and Kamal config to {repo.full_name} "
                "unless the workflow is already there; the deploy waits for the merge",
            )
        )
    changes.append(
        PlannedChange(
            resource="VM",
            action="reuse" if has_vm else "create",
            detail=f"{env.server_type} ({size.vcpus} vCPU {size.arch}, {size.memory_gb} GB) in {env.region} "
            f"on {target.provider.value}" + (f", {instance.ip}" if has_vm and instance else ""),
        )
    )
    changes.append(
        PlannedChange(resource="DNS record", action="upsert", detail=f"A {env.hostname}")
    )
    changes.append(
        PlannedChange(
            resource="GitHub Actions secrets",
            action="upsert",
            detail=f"VMKIT_SSH_PRIVATE_KEY and {len(env.env_vars)} env variables",
        )
    )
    changes.append(
        PlannedChange(
            resource="GitHub Actions run",
            action="create",
            detail="buildpacks build → GHCR → kamal deploy",
        )
    )
    return DeployPlan(
        environment_id=env.id,
        url=deps.settings.apps_url_template.format(hostname=env.hostname),
        changes=changes,
        monthly_cost_usd=catalog.monthly_cost(target.provider, env.server_type),
        blocked_by=env.active_deploy_id,
    )
