"""VMs, one per environment, and what their agents last reported."""

from __future__ import annotations

from vmkit.auth import Principal
from vmkit.deps import Deps
from vmkit.models import Instance, Scope
from vmkit.store import Page


def list_instances(
    deps: Deps, principal: Principal, *, limit: int = 50, cursor: str | None = None
) -> Page[Instance]:
    principal.require(Scope.read)
    page = deps.store.list(Instance, principal.workspace_id, limit=limit, cursor=cursor)
    if principal.environment_ids:
        page.items = [i for i in page.items if i.environment_id in principal.environment_ids]
    return page


def get_instance(deps: Deps, principal: Principal, instance_id: str) -> Instance:
    principal.require(Scope.read)
    instance = deps.store.get(Instance, principal.workspace_id, instance_id)
    principal.require_environment(instance.environment_id)
    return instance
