"""Credential rotation (the seeds' `rotatecreds`): an environment's deploy key, and its
VM's agent token, replaced without ever locking the deploy path or the agent out.

Deploy key, in steps that each leave a working key, recorded on the environment as
they finish (`pending_deploy_key.stage`), so a rotation cut short anywhere resumes
with the same new key when asked again:
  1. created: a new ed25519 key, sealed, stored as pending (nothing else changed);
  2. authorized: the agent's harden puts it in `kamal`'s authorized_keys *beside* the
     old one;
  3. secret_set: the `VMKIT_SSH_PRIVATE_KEY` Actions secret is replaced by it;
  4. current: the environment takes it as its own (from then on, over the target's);
  5. the agent's harden writes authorized_keys with the new key alone: the old one is
     refused.
A deploy during a rotation works at every step: harden authorizes the pending key
too, and the deploy's secret is the pending key once the VM accepts it.

Agent token: the new token's verifier is stored as pending beside the old one (same
token id, new secret), the agent gets the token in a `rotate_token` call, keeps it in
its env file and reconnects with it; the `$connect` that presents it promotes it and
from then on the old one is refused. Until then the old token keeps working, so a
rotation that never reaches the agent locks nothing out.
"""

from __future__ import annotations

import time
from typing import Literal

from vmkit import agentrpc, auth, credentials
from vmkit.auth import Principal
from vmkit.deps import Deps
from vmkit.errors import AgentUnavailable, Conflict
from vmkit.ids import new_id
from vmkit.models import (
    ComputeTarget,
    DeployKey,
    Environment,
    Instance,
    InstanceStatus,
    Repo,
    Scope,
    utcnow,
)
from vmkit.schemas import RotationResult
from vmkit.services import audit, environments, repos
from vmkit.services.orchestration import SSH_KEY_SECRET
from vmkit.sshkeys import generate_deploy_key

Credential = Literal["deploy_key", "agent_token"]
CALL_TIMEOUT_S = 30.0
RECONNECT_WAIT_S = 20.0
_POLL_S = 0.1


def rotate(
    deps: Deps, principal: Principal, environment_id: str, credential: Credential
) -> RotationResult:
    principal.require(Scope.admin)
    principal.require_environment(environment_id)
    env = deps.store.get(Environment, principal.workspace_id, environment_id)
    if credential == "deploy_key":
        result = rotate_deploy_key(deps, env)
    else:
        result = rotate_agent_token(deps, env)
    audit.record(
        deps,
        principal,
        "environment.rotate_credentials",
        "environment",
        env.id,
        credential=credential,
        status=result.status,
        **({"key": result.public_key} if result.public_key else {}),
    )
    return result


# --- the deploy key ------------------------------------------------------------------------


def rotate_deploy_key(deps: Deps, env: Environment) -> RotationResult:
    target = deps.store.get(ComputeTarget, env.workspace_id, env.compute_target_id)
    repo = deps.store.get(Repo, env.workspace_id, env.repo_id)
    env = _pending_key(deps, env)
    instance = _instance(deps, env)
    pending = env.pending_deploy_key
    assert pending is not None
    if instance is not None and pending.stage == "created":
        _harden(deps, env, target, instance)  # the VM now accepts the old key and the new
        env = _stage(deps, env, "authorized")
    private = credentials.open_deploy_key(deps.sealer, env, pending)
    repos.forge(deps, repo).set_secret(SSH_KEY_SECRET, private)
    env = _stage(deps, env, "secret_set")
    env.deploy_key = pending.model_copy(update={"stage": "current"})
    env.pending_deploy_key = None
    env.deploy_key_rotated_at = utcnow()
    deps.store.save(env)
    if instance is None:
        return RotationResult(
            credential="deploy_key",
            status="rotated",
            public_key=env.deploy_key.public_openssh,
            detail="the environment has no VM yet: its first deploy installs the new key",
        )
    try:
        _harden(deps, env, target, instance)  # the new key alone: the old one is refused
    except AgentUnavailable as exc:
        return RotationResult(
            credential="deploy_key",
            status="old_key_still_authorized",
            public_key=env.deploy_key.public_openssh,
            detail=f"the new key is in use, but the VM still accepts the old one ({exc.message}); "
            "the next deploy or harden removes it",
        )
    return RotationResult(
        credential="deploy_key",
        status="rotated",
        public_key=env.deploy_key.public_openssh,
        detail="the VM accepts only the new key; the Actions secret holds it",
    )


def _pending_key(deps: Deps, env: Environment) -> Environment:
    """The rotation's new key: the one an interrupted rotation left, or a fresh one."""
    if env.pending_deploy_key is not None:
        return env
    key_id = new_id("deploy_key")
    pair = generate_deploy_key(f"vmkit-deploy-{env.id}-{key_id[-6:].lower()}")
    env.pending_deploy_key = DeployKey(
        key_id=key_id,
        public_openssh=pair.public_openssh,
        sealed_private=credentials.seal_deploy_key(deps.sealer, env, key_id, pair.private_openssh),
        stage="created",
    )
    return deps.store.save(env)


def _stage(deps: Deps, env: Environment, stage: str) -> Environment:
    assert env.pending_deploy_key is not None
    env.pending_deploy_key = env.pending_deploy_key.model_copy(update={"stage": stage})
    return deps.store.save(env)


def _instance(deps: Deps, env: Environment) -> Instance | None:
    instance = (
        deps.store.find(Instance, env.workspace_id, env.instance_id) if env.instance_id else None
    )
    if instance is None or instance.status is InstanceStatus.destroyed:
        return None
    return instance


def _harden(deps: Deps, env: Environment, target: ComputeTarget, instance: Instance) -> None:
    agentrpc.call(
        deps,
        instance,
        "harden",
        environments.harden_params(deps, env, target),
        timeout_s=CALL_TIMEOUT_S,
    )
    deps.store.set_fields(instance, hardened_at=utcnow())


# --- the agent token -----------------------------------------------------------------------


def rotate_agent_token(deps: Deps, env: Environment) -> RotationResult:
    instance = _instance(deps, env)
    if instance is None or instance.agent_token_id is None:
        raise Conflict(f"{env.name} has no VM, so no agent token to rotate", code="no_instance")
    if not instance.agent_connected:
        raise AgentUnavailable(
            f"the agent of {instance.id} is not connected: a new token can only be handed to "
            "a connected agent (the old token keeps working)"
        )
    issued = auth.reissue(auth.AGENT_TOKEN_PREFIX, instance.agent_token_id)
    deps.store.set_fields(instance, pending_agent_verifier=issued.verifier)
    agentrpc.call(
        deps, instance, "rotate_token", {"token": issued.plaintext}, timeout_s=CALL_TIMEOUT_S
    )
    deadline = time.monotonic() + RECONNECT_WAIT_S
    while time.monotonic() < deadline:
        current = deps.store.get(Instance, instance.workspace_id, instance.id)
        if current.pending_agent_verifier is None:
            return RotationResult(
                credential="agent_token",
                status="rotated",
                detail="the agent reconnected with the new token; the old one is refused",
            )
        time.sleep(_POLL_S)
    return RotationResult(
        credential="agent_token",
        status="pending",
        detail="the agent has the new token but has not reconnected with it yet; the old token "
        "works until it does",
    )


def confirm_agent_token(deps: Deps, instance: Instance) -> None:
    """At `$connect` with the pending token: it becomes the token, the old one is refused."""
    if instance.pending_agent_verifier is None:
        return
    deps.store.set_fields(
        instance,
        agent_verifier=instance.pending_agent_verifier,
        pending_agent_verifier=None,
        agent_token_rotated_at=utcnow(),
    )
