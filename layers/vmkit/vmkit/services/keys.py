"""API keys: create (shown once), list, revoke, rotate. Managing keys needs `admin`.

A key's privilege never grows through the keys it manages: a key can create, rotate,
revoke or even see only keys whose scope and environment restriction lie within its
own. A key restricted to some environments therefore manages only keys restricted to
(a subset of) those environments, never an unrestricted one.
"""

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


def _within(principal: Principal, scopes: list[Scope], environment_ids: list[str]) -> bool:
    """Whether a key with these rights grants nothing the principal lacks."""
    top = max(scopes, key=SCOPE_RANK.__getitem__)
    if not principal.can(top):
        return False
    if not principal.environment_ids:
        return True
    return bool(environment_ids) and set(environment_ids) <= principal.environment_ids


def _require_within(principal: Principal, key: ApiKey, verb: str) -> None:
    if not _within(principal, key.scopes, key.environment_ids):
        raise Forbidden(
            f"this API key may not {verb} API key {key.id}: that key has rights this one "
            "lacks (a higher scope, or environments outside this key's restriction)",
            code="key_privilege",
        )


def create_key(deps: Deps, principal: Principal, data: ApiKeyCreate) -> tuple[ApiKey, str]:
    principal.require(Scope.admin)
    for environment_id in data.environment_ids:
        deps.store.get(Environment, principal.workspace_id, environment_id)
    if not _within(principal, data.scopes, data.environment_ids):
        rights = f"scope '{principal.scope.value}'"
        if principal.environment_ids:
            rights += f", environments {', '.join(sorted(principal.environment_ids))}"
        raise Forbidden(
            f"a key cannot grant more than its creator has ({rights})", code="insufficient_scope"
        )
    issued = auth.issue(auth.API_KEY_PREFIX)
    key = ApiKey(
        id=issued.key_id,
        workspace_id=principal.workspace_id,
        name=data.name,
        scopes=sorted(set(data.scopes), key=SCOPE_RANK.__getitem__),
        environment_ids=sorted(set(data.environment_ids)),
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
        environment_ids=key.environment_ids,
    )
    return key, issued.plaintext


def list_keys(
    deps: Deps, principal: Principal, *, limit: int = 50, cursor: str | None = None
) -> Page[ApiKey]:
    """The workspace's keys that this key could manage (all of them, for an unrestricted
    admin)."""
    principal.require(Scope.admin)
    page = deps.store.list(ApiKey, principal.workspace_id, limit=limit, cursor=cursor)
    return page.keep(lambda k: _within(principal, k.scopes, k.environment_ids))


def _managed_key(deps: Deps, principal: Principal, key_id: str, verb: str) -> ApiKey:
    principal.require(Scope.admin)
    key = deps.store.get(ApiKey, principal.workspace_id, key_id)
    _require_within(principal, key, verb)
    return key


def revoke_key(deps: Deps, principal: Principal, key_id: str) -> ApiKey:
    key = _managed_key(deps, principal, key_id, "revoke")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        key.expires_at = int(key.revoked_at.timestamp()) + REVOKED_KEY_RETENTION_S
        deps.store.save(key)
        audit.record(deps, principal, "api_key.revoke", "api_key", key.id, name=key.name)
    return key


def rotate_key(deps: Deps, principal: Principal, key_id: str) -> tuple[ApiKey, str]:
    """A new key with the same name, scopes and restrictions; the old one stops at once."""
    old = _managed_key(deps, principal, key_id, "rotate")
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
