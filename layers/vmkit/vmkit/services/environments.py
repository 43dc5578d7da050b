"""Environments: one per (repo, stage), each with its own VM, hostname and env vars."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from vmkit import catalog, credentials
from vmkit.auth import Principal
from vmkit.deps import Deps
from vmkit.errors import Conflict, Forbidden, PayloadTooLarge, VMKitError
from vmkit.hostnames import app_hostname
from vmkit.ids import new_id
from vmkit.models import ComputeTarget, Environment, EnvVar, Repo, Scope
from vmkit.services import audit
from vmkit.store import Claims, Page

if TYPE_CHECKING:  # annotations only: the step functions load no API schema
    from vmkit.schemas import EnvironmentCreate, EnvironmentUpdate, EnvVarInput, EnvVarsUpdate


def _claim_hostname(deps: Deps, repo: Repo, slug: str, environment_id: str) -> str:
    """`{repo}-{env}.{apps domain}`, unique across all workspaces sharing the apps domain.

    If another workspace already holds the plain name, a short stable suffix from
    the environment id tells the two apart.
    """
    domain = deps.settings.apps_domain
    base = app_hostname(repo.name, slug, domain).removesuffix(f".{domain}")
    suffix = hashlib.sha256(environment_id.encode()).hexdigest()[:4]
    for label in (base, f"{base[: 63 - 5]}-{suffix}"):
        hostname = f"{label}.{domain}"
        if deps.store.claim(Claims.hostname(hostname), environment_id):
            return hostname
    raise Conflict(
        f"no free hostname for {base}; choose another environment name", code="hostname_taken"
    )


def _seal_vars(deps: Deps, env: Environment, inputs: list[EnvVarInput]) -> list[EnvVar]:
    return [
        EnvVar(
            name=var.name,
            secret=True,
            sealed=credentials.seal_env_var(deps.sealer, env, var.name, var.value),
        )
        if var.secret
        else EnvVar(name=var.name, value=var.value)
        for var in inputs
    ]


# DynamoDB stores an item of at most 400 KB; the environment's record must fit with its
# variables (secrets sealed: base64 and a data key each), with room to spare.
ENV_RECORD_BUDGET_BYTES = 350_000


def _within_budget(env: Environment) -> None:
    size = len(env.model_dump_json())
    if size > ENV_RECORD_BUDGET_BYTES:
        raise PayloadTooLarge(
            f"the variables of {env.name} would take {size} bytes stored, over the limit of "
            f"{ENV_RECORD_BUDGET_BYTES}; keep large files (certificates, bundles) out of "
            "env vars or split them across fewer, smaller values",
            code="env_vars_too_large",
            details={"limit_bytes": ENV_RECORD_BUDGET_BYTES, "size_bytes": size},
        )


def create_environment(deps: Deps, principal: Principal, data: EnvironmentCreate) -> Environment:
    principal.require(Scope.admin)
    if principal.environment_ids:  # it could never act on the environment it made
        raise Forbidden(
            "this API key is restricted to some environments and cannot create new ones; "
            "use a key without an environment restriction",
            code="environment_not_allowed",
        )
    repo = deps.store.get(Repo, principal.workspace_id, data.repo_id)
    target = deps.store.get(ComputeTarget, principal.workspace_id, data.compute_target_id)
    # Refused here, naming what the provider does offer, rather than by the cloud at deploy.
    server_type = data.server_type or catalog.default_server_type(target.provider)
    catalog.server_type(target.provider, server_type)
    region = catalog.check_region(target.provider, data.region or target.default_region)
    names = [v.name for v in data.env_vars]
    if len(names) != len(set(names)):
        raise Conflict("each env var name may appear once", code="duplicate_env_var")
    env = Environment(
        id=new_id("environment"),
        workspace_id=principal.workspace_id,
        repo_id=repo.id,
        name=data.name,
        slug=data.name,
        compute_target_id=target.id,
        server_type=server_type,
        region=region,
        hostname=f"{data.name}.{deps.settings.apps_domain}",  # until its own is claimed
        ssh_allow_from=list(dict.fromkeys(data.ssh_allow_from)),
    )
    env.env_vars = _seal_vars(deps, env, data.env_vars)
    _within_budget(env)  # before any name is taken, so a refusal leaves nothing behind
    name_claim = Claims.environment_name(repo.id, data.name)
    if not deps.store.claim(name_claim, env.id):
        raise Conflict(
            f"{repo.full_name} already has an environment named {data.name}", code="already_exists"
        )
    try:
        env.hostname = _claim_hostname(deps, repo, data.name, env.id)
        deps.store.create(env)
    except BaseException:
        deps.store.release(name_claim, env.id)
        deps.store.release(Claims.hostname(env.hostname), env.id)
        raise
    audit.record(
        deps,
        principal,
        "environment.create",
        "environment",
        env.id,
        name=env.name,
        repo=repo.full_name,
        server_type=env.server_type,
        env_var_names=names,
    )
    return env


def list_environments(
    deps: Deps,
    principal: Principal,
    *,
    repo_id: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[Environment]:
    principal.require(Scope.read)
    if repo_id:
        deps.store.get(Repo, principal.workspace_id, repo_id)
        envs = deps.store.children(Environment, repo_id)
        page = Page([e for e in envs if e.workspace_id == principal.workspace_id], None)
    else:
        page = deps.store.list(Environment, principal.workspace_id, limit=limit, cursor=cursor)
    return page.keep(lambda e: principal.may_see(e.id))


def get_environment(deps: Deps, principal: Principal, environment_id: str) -> Environment:
    principal.require(Scope.read)
    principal.require_environment(environment_id)
    return deps.store.get(Environment, principal.workspace_id, environment_id)


def update_environment(
    deps: Deps, principal: Principal, environment_id: str, data: EnvironmentUpdate
) -> Environment:
    principal.require(Scope.admin)
    env = get_environment(deps, principal, environment_id)
    changed = data.model_dump(exclude_none=True)
    if (data.compute_target_id is not None or data.region is not None) and env.instance_id:
        raise Conflict(
            "move an environment to another compute target or region only before it has a VM",
            code="has_instance",
        )
    target_id = data.compute_target_id or env.compute_target_id
    target = deps.store.get(ComputeTarget, principal.workspace_id, target_id)
    resize_to = None
    if data.server_type and env.instance_id and data.server_type != env.server_type:
        # The VM exists: a new size is a resize (a deploy of its own), refused now, before
        # anything changes, if the provider would refuse it.
        from vmkit.services import resize

        resize.plan_resize(deps, principal, env.id, data.server_type)
        resize_to = data.server_type
    # The size and region must be the (possibly new) provider's, whichever of them changed.
    server_type = env.server_type if resize_to else data.server_type or env.server_type
    catalog.server_type(target.provider, server_type)
    region = catalog.check_region(target.provider, data.region or env.region)
    env.server_type, env.region, env.compute_target_id = server_type, region, target.id
    if data.ssh_allow_from is not None:  # applied at the VM's next harden
        env.ssh_allow_from = list(dict.fromkeys(data.ssh_allow_from))
    deps.store.save(env)
    audit.record(deps, principal, "environment.update", "environment", env.id, **changed)
    if resize_to:
        from vmkit.services import resize

        resize.start_resize(deps, principal, env.id, resize_to)
        env = deps.store.get(Environment, env.workspace_id, env.id)  # holds the resize now
    return env


def set_env_vars(
    deps: Deps, principal: Principal, environment_id: str, data: EnvVarsUpdate
) -> Environment:
    """Set and unset variables; values take effect on the next deploy."""
    principal.require(Scope.deploy)
    env = get_environment(deps, principal, environment_id)
    set_names = [v.name for v in data.set]
    if len(set_names) != len(set(set_names)) or set(set_names) & set(data.unset):
        raise Conflict(
            "each env var name may appear once across set and unset", code="duplicate_env_var"
        )
    keep = [v for v in env.env_vars if v.name not in set(set_names) | set(data.unset)]
    env.env_vars = keep + _seal_vars(deps, env, data.set)
    _within_budget(env)
    deps.store.save(env)
    audit.record(
        deps,
        principal,
        "environment.set_env_vars",
        "environment",
        env.id,
        set=set_names,
        unset=data.unset,
    )
    return env


def forget_environment(deps: Deps, env: Environment) -> None:
    """Delete the record and free its names; the teardown's last step."""
    deps.store.delete(env)
    deps.store.release(Claims.environment_name(env.repo_id, env.slug), env.id)
    deps.store.release(Claims.hostname(env.hostname), env.id)


def monthly_cost(deps: Deps, env: Environment) -> float | None:
    """What the environment's VM size costs a month, by its target's provider."""
    target = deps.store.find(ComputeTarget, env.workspace_id, env.compute_target_id)
    if target is None:
        return None
    try:
        return catalog.monthly_cost(target.provider, env.server_type)
    except VMKitError:  # a size the catalog no longer lists
        return None


def harden_params(deps: Deps, env: Environment, target: ComputeTarget) -> dict[str, Any]:
    """What the agent's harden gets: the deploy key, and SSH open only to GitHub's hosted
    runners (the agent reads GitHub's `/meta` itself: its thousands of ranges do not
    fit one frame of the channel, and it refreshes them on heartbeats) and the
    environment's `ssh_allow_from`."""
    meta_url = f"{deps.settings.github_api_url.rstrip('/')}/meta"
    params: dict[str, Any] = {
        "deploy_public_key": credentials.deploy_public_key(env, target),
        "ssh_ingress": {"github_meta_url": meta_url, "allow_from": list(env.ssh_allow_from)},
    }
    if env.pending_deploy_key is not None:  # a rotation under way: both keys work meanwhile
        params["rotating_public_key"] = env.pending_deploy_key.public_openssh
    return params
