"""API keys: create (shown once), list, revoke, rotate. Managing keys needs `admin`."""

from __future__ import annotations

from vmkit import auth
from vmkit.auth import Principal
from vmkit.deps import Deps
from vmkit.errors import Conflict, Forbidden
from vmkit.models import SCOPE_RANK, ApiKey, Environment, Scope, utcnow
from vmkit.schemas import ApiKeyCreate
from vmkit.services import audit
from vmkit.store import Page

REVOKED_KEY_RETENTION_S = 90 * 24 * 3600


def create_key(deps: Deps, principal: Principal, data: ApiKeyCreate) -> tuple[ApiKey, str]:
    principal.require(Scope.admin)
    for environment_id in data.environment_ids:
        deps.store.get(Environment, principal.workspace_id, environment_id)
    top = max(data.scopes, key=SCOPE_RANK.__getitem__)
    if not principal.can(top):
        raise Forbidden("a key cannot grant more than its creator has", code="insufficient_scope")
    issued = auth.issue(auth.API_KEY_PREFIX)
    key = ApiKey(
        id=issued.key_id,
        workspace_id=principal.workspace_id,
        name=data.name,
        scopes=sorted(set(data.scopes), key=SCOPE_RANK.__getitem__),
        environment_ids=data.environment_ids,
        verifier=issued.verifier,
        created_by=principal.actor,
    )
    deps.store.create(key)
    audit.record(
        deps,
        principal,
        "api_key.create",
        "api_key",
        key.id,
        name=key.name,
        scopes=[s.value for s in key.scopes],
    )
    return key, issued.plaintext


def list_keys(
    deps: Deps, principal: Principal, *, limit: int = 50, cursor: str | None = None
) -> Page[ApiKey]:
    principal.require(Scope.admin)
    return deps.store.list(ApiKey, principal.workspace_id, limit=limit, cursor=cursor)


def revoke_key(deps: Deps, principal: Principal, key_id: str) -> ApiKey:
    principal.require(Scope.admin)
    key = deps.store.get(ApiKey, principal.workspace_id, key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        key.expires_at = int(key.revoked_at.timestamp()) + REVOKED_KEY_RETENTION_S
        deps.store.save(key)
        audit.record(deps, principal, "api_key.revoke", "api_key", key.id, name=key.name)
    return key


def rotate_key(deps: Deps, principal: Principal, key_id: str) -> tuple[ApiKey, str]:
    """A new key with the same name, scopes and restrictions; the old one stops at once."""
    old = deps.store.get(ApiKey, principal.workspace_id, key_id)
    if old.revoked_at is not None:
        raise Conflict(f"API key {key_id} is revoked; create a new key instead", code="key_revoked")
    new, plaintext = create_key(
        deps,
        principal,
        ApiKeyCreate(name=old.name, scopes=old.scopes, environment_ids=old.environment_ids),
    )
    revoke_key(deps, principal, old.id)
    audit.record(deps, principal, "api_key.rotate", "api_key", new.id, replaces=old.id)
    return new, plaintext
