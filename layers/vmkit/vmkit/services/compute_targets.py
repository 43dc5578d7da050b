"""Compute targets: where a workspace's VMs are created, with whose cloud token.

A token is tried with one cheap read call before the target is stored (or updated):
a token the provider refuses is a 422 `invalid_provider_token` now, with nothing
stored, rather than a failed deploy later.
"""

from __future__ import annotations

from vmkit import catalog, credentials
from vmkit.auth import Principal
from vmkit.deps import Deps
from vmkit.errors import Conflict
from vmkit.ids import new_id
from vmkit.models import ComputeTarget, Environment, Provider, Scope
from vmkit.schemas import (
    CatalogPublic,
    ComputeTargetCreate,
    ComputeTargetUpdate,
    ProviderOfferPublic,
    RegionPublic,
    ServerTypePublic,
)
from vmkit.services import audit
from vmkit.sshkeys import generate_deploy_key
from vmkit.store import Page


def _hint(token: str) -> str:
    return f"…{token[-4:]}"


def _check_token(deps: Deps, target: ComputeTarget) -> None:
    if target.token is not None:
        deps.compute(target).check_credentials()


def create_target(deps: Deps, principal: Principal, data: ComputeTargetCreate) -> ComputeTarget:
    principal.require(Scope.admin)
    region = catalog.check_region(
        data.provider, data.default_region or catalog.default_region(data.provider)
    )
    target = ComputeTarget(
        id=new_id("compute_target"),
        workspace_id=principal.workspace_id,
        name=data.name,
        provider=data.provider,
        default_region=region,
        local_machine=data.local_machine,
    )
    if data.token:
        target.token = credentials.seal_for_target(
            deps.sealer, target, credentials.PROVIDER_TOKEN, data.token
        )
        target.token_hint = _hint(data.token)
        _check_token(deps, target)
    key_pair = generate_deploy_key(f"vmkit-deploy-{target.id}")
    target.deploy_public_key = key_pair.public_openssh
    target.deploy_private_key = credentials.seal_for_target(
        deps.sealer, target, credentials.DEPLOY_KEY, key_pair.private_openssh
    )
    deps.store.create(target)
    audit.record(
        deps,
        principal,
        "compute_target.create",
        "compute_target",
        target.id,
        name=target.name,
        provider=target.provider.value,
    )
    return target


def list_targets(
    deps: Deps, principal: Principal, *, limit: int = 50, cursor: str | None = None
) -> Page[ComputeTarget]:
    principal.require(Scope.read)
    return deps.store.list(ComputeTarget, principal.workspace_id, limit=limit, cursor=cursor)


def get_target(deps: Deps, principal: Principal, target_id: str) -> ComputeTarget:
    principal.require(Scope.read)
    return deps.store.get(ComputeTarget, principal.workspace_id, target_id)


def update_target(
    deps: Deps, principal: Principal, target_id: str, data: ComputeTargetUpdate
) -> ComputeTarget:
    principal.require(Scope.admin)
    target = deps.store.get(ComputeTarget, principal.workspace_id, target_id)
    changed = []
    if data.name is not None:
        target.name = data.name
        changed.append("name")
    if data.default_region is not None:
        target.default_region = catalog.check_region(target.provider, data.default_region)
        changed.append("default_region")
    if data.token is not None:
        target.token = credentials.seal_for_target(
            deps.sealer, target, credentials.PROVIDER_TOKEN, data.token
        )
        target.token_hint = _hint(data.token)
        _check_token(deps, target)
        changed.append("token")
    deps.store.save(target)
    audit.record(
        deps, principal, "compute_target.update", "compute_target", target.id, changed=changed
    )
    return target


def delete_target(deps: Deps, principal: Principal, target_id: str) -> None:
    principal.require(Scope.admin)
    target = deps.store.get(ComputeTarget, principal.workspace_id, target_id)
    in_use = [
        e.name
        for e in deps.store.all(Environment, principal.workspace_id)
        if e.compute_target_id == target.id
    ]
    if in_use:
        raise Conflict(
            f"compute target {target.id} is used by environments {', '.join(in_use)}; "
            "destroy or move them first",
            code="in_use",
        )
    deps.store.delete(target)
    audit.record(
        deps, principal, "compute_target.delete", "compute_target", target.id, name=target.name
    )


def describe_catalog(deps: Deps, principal: Principal) -> CatalogPublic:
    """Every provider's sizes, regions and monthly prices: what a target can be asked for."""
    principal.require(Scope.read)
    offers = []
    for provider in Provider:
        offer = catalog.offer(provider)
        offers.append(
            ProviderOfferPublic(
                provider=provider,
                default_server_type=offer.default_type,
                default_region=offer.default_region,
                server_types=[
                    ServerTypePublic(
                        **t.model_dump(exclude={"monthly_usd"}),
                        monthly_usd=catalog.monthly_cost(provider, t.name),
                    )
                    for t in offer.types.values()
                ],
                regions=[RegionPublic.model_validate(r) for r in offer.regions.values()],
            )
        )
    return CatalogPublic(providers=offers, prices=catalog.PRICES)
