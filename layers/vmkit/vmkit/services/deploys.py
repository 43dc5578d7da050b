"""Deploys: the record of one run of the deploy state machine."""

from __future__ import annotations

from vmkit.auth import Principal
from vmkit.deps import Deps
from vmkit.models import Deploy, Environment, Scope
from vmkit.store import Page


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
        deploys = deps.store.children(Deploy, f"ENV#{environment_id}", newest_first=True)
        return Page(deploys[:limit], None)
    page = deps.store.list(
        Deploy, principal.workspace_id, limit=limit, cursor=cursor, newest_first=True
    )
    if principal.environment_ids:
        page.items = [d for d in page.items if d.environment_id in principal.environment_ids]
    return page


def get_deploy(deps: Deps, principal: Principal, deploy_id: str) -> Deploy:
    principal.require(Scope.read)
    deploy = deps.store.get(Deploy, principal.workspace_id, deploy_id)
    principal.require_environment(deploy.environment_id)
    return deploy
