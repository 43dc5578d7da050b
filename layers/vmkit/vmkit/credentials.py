"""Which secret of which record is sealed under which encryption context, in one place.

The context names the workspace, the record and the kind of secret (for an env var,
its name too), so a ciphertext moved to another record, another kind, or another
variable of the same environment fails to open. Secrets are opened only at the point
of use, inside the step or adapter that needs them.
"""

from __future__ import annotations

from vmkit.crypto import Sealer
from vmkit.models import ComputeTarget, DeployKey, EncryptedValue, Environment

PROVIDER_TOKEN = "provider_token"  # noqa: S105 (an encryption-context label)
DEPLOY_KEY = "deploy_private_key"


def env_var_kind(name: str) -> str:
    return f"env_var:{name}"


def seal_for_target(
    sealer: Sealer, target: ComputeTarget, kind: str, secret: str
) -> EncryptedValue:
    return sealer.seal(secret, workspace_id=target.workspace_id, record_id=target.id, kind=kind)


def provider_token(sealer: Sealer, target: ComputeTarget) -> str | None:
    """The target's cloud token (`local` targets have none)."""
    if target.token is None:
        return None
    return sealer.open(
        target.token, workspace_id=target.workspace_id, record_id=target.id, kind=PROVIDER_TOKEN
    )


def deploy_private_key(sealer: Sealer, target: ComputeTarget) -> str:
    assert target.deploy_private_key is not None
    return sealer.open(
        target.deploy_private_key,
        workspace_id=target.workspace_id,
        record_id=target.id,
        kind=DEPLOY_KEY,
    )


def deploy_key_kind(key_id: str) -> str:
    return f"{DEPLOY_KEY}:{key_id}"


def seal_deploy_key(sealer: Sealer, env: Environment, key_id: str, private: str) -> EncryptedValue:
    """An environment's own deploy key, bound to the environment and the key's id (so a
    rotation's pending key and the current one cannot be swapped)."""
    return sealer.seal(
        private, workspace_id=env.workspace_id, record_id=env.id, kind=deploy_key_kind(key_id)
    )


def open_deploy_key(sealer: Sealer, env: Environment, key: DeployKey) -> str:
    return sealer.open(
        key.sealed_private,
        workspace_id=env.workspace_id,
        record_id=env.id,
        kind=deploy_key_kind(key.key_id),
    )


def deploy_public_key(env: Environment, target: ComputeTarget) -> str:
    """The key the VM must accept: the environment's own once rotated, else the target's."""
    key = env.deploy_key.public_openssh if env.deploy_key else target.deploy_public_key
    assert key is not None
    return key


def actions_deploy_key(sealer: Sealer, env: Environment, target: ComputeTarget) -> str:
    """The private key the Actions secret should hold for a deploy: a rotation's new key
    once the VM accepts it, else the current one."""
    pending = env.pending_deploy_key
    if pending is not None and pending.stage in ("authorized", "secret_set"):
        return open_deploy_key(sealer, env, pending)
    if env.deploy_key is not None:
        return open_deploy_key(sealer, env, env.deploy_key)
    return deploy_private_key(sealer, target)


def seal_env_var(sealer: Sealer, env: Environment, name: str, value: str) -> EncryptedValue:
    return sealer.seal(
        value, workspace_id=env.workspace_id, record_id=env.id, kind=env_var_kind(name)
    )


def env_var_values(sealer: Sealer, env: Environment) -> dict[str, str]:
    """Every variable's value, secrets decrypted: for the deploy step that sets them."""
    return {
        v.name: (
            sealer.open(
                v.sealed,
                workspace_id=env.workspace_id,
                record_id=env.id,
                kind=env_var_kind(v.name),
            )
            if v.secret and v.sealed
            else v.value or ""
        )
        for v in env.env_vars
    }
