"""Resize: give an environment's VM another size through its provider.

A resize is a deploy with `action: resize` through the deploy state machine's resize
branch (ResizeInstance, then WaitForAgent for the agent to come back), so the timeline,
audit and one-at-a-time rules apply. The provider resizes only a stopped server
(Hetzner's `change_type`), so the app is down for the reboot; the disk is kept as it
is (`upgrade_disk: false`), so a later resize back down stays possible.

Everything the provider would refuse is refused here first, before anything stops: a
size of another provider or not offered in the region, or a disk smaller than the VM's
(each provider's catalog has one CPU architecture, so a resize keeps the image's).
"""

from __future__ import annotations

from vmkit import catalog
from vmkit.auth import Principal
from vmkit.deps import Deps
from vmkit.errors import Conflict, InvalidInput
from vmkit.models import ComputeTarget, Deploy, DeployAction, Environment, Instance, Scope
from vmkit.schemas import DeployCreate, ResizePlan
from vmkit.services import deploys

DOWNTIME = "the VM is stopped, resized and started again: usually a minute or two"


def plan_resize(
    deps: Deps, principal: Principal, environment_id: str, server_type: str
) -> ResizePlan:
    principal.require(Scope.read)
    principal.require_environment(environment_id)
    env = deps.store.get(Environment, principal.workspace_id, environment_id)
    return _check(deps, env, server_type)


def start_resize(deps: Deps, principal: Principal, environment_id: str, server_type: str) -> Deploy:
    principal.require(Scope.admin)  # a bigger VM costs money
    principal.require_environment(environment_id)
    env = deps.store.get(Environment, principal.workspace_id, environment_id)
    _check(deps, env, server_type)
    return deploys.start_deploy(
        deps, principal, env.id, DeployCreate(), action=DeployAction.resize, resize_to=server_type
    )


def _check(deps: Deps, env: Environment, server_type: str) -> ResizePlan:
    """The plan, or the reason the provider would refuse it (raised before any change)."""
    target = deps.store.get(ComputeTarget, env.workspace_id, env.compute_target_id)
    instance = (
        deps.store.find(Instance, env.workspace_id, env.instance_id) if env.instance_id else None
    )
    if instance is None or not instance.provider_server_id:
        raise Conflict(
            f"{env.name} has no VM yet: set server_type and deploy, the VM is made that size",
            code="no_instance",
        )
    new = catalog.server_type(target.provider, server_type)  # refuses another provider's
    current_name = instance.server_type or env.server_type
    if new.name == current_name:
        raise InvalidInput(f"{env.name} already runs on {current_name}", code="same_size")
    current = catalog.server_type(target.provider, current_name)
    catalog.check_region(target.provider, env.region)
    disk = instance.disk_gb or current.disk_gb
    if new.disk_gb < disk:
        raise InvalidInput(
            f"{server_type} has a {new.disk_gb} GB disk, smaller than the VM's {disk} GB: the "
            "provider cannot shrink a disk; pick a size with at least that much",
            code="resize_refused",
        )
    before = catalog.monthly_cost(target.provider, current.name)
    after = catalog.monthly_cost(target.provider, new.name)
    return ResizePlan(
        environment_id=env.id,
        from_server_type=current.name,
        to_server_type=new.name,
        from_monthly_usd=before,
        to_monthly_usd=after,
        monthly_change_usd=round(after - before, 2),
        disk_gb=disk,
        downtime=DOWNTIME,
        blocked_by=env.active_deploy_id,
    )
