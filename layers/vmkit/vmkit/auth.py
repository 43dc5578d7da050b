"""Credentials and the caller's identity.

Three kinds of bearer credential share one shape, `{prefix}_{id}_{secret}`: API keys
(`vmk_`), agent tokens (`vmka_`) and login sessions (`vms_`). The id finds the row;
the row holds only a salt and SHA-256(salt + secret), compared in constant time.
The secret has 256 bits of entropy, so a fast hash is the right tool (a password
hash would only add latency to every call). The plaintext is returned exactly once,
at creation, and a revoked row fails on the very next call because every check
reads the row again.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from vmkit.errors import Forbidden, Unauthenticated
from vmkit.models import (
    SCOPE_RANK,
    ApiKey,
    HashedSecret,
    Interface,
    Scope,
    Session,
    utcnow,
)
from vmkit.store import Store

API_KEY_PREFIX = "vmk"
AGENT_TOKEN_PREFIX = "vmka"  # noqa: S105 (a prefix, not a secret)
SESSION_PREFIX = "vms"

_TOKEN = re.compile(r"^(vmk|vmka|vms)_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_LAST_USED_GRANULARITY = timedelta(minutes=5)


@dataclass(frozen=True)
class IssuedSecret:
    plaintext: str  # show once, never store
    key_id: str
    verifier: HashedSecret

    def __repr__(self) -> str:  # keep the plaintext out of logs and tracebacks
        return f"IssuedSecret(key_id={self.key_id!r})"


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


def issue(prefix: str) -> IssuedSecret:
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    return IssuedSecret(
        plaintext=f"{prefix}_{key_id}_{secret}",
        key_id=key_id,
        verifier=HashedSecret(salt=salt, digest=_digest(salt, secret)),
    )


def reissue(prefix: str, key_id: str) -> IssuedSecret:
    """A new secret under an existing id: a rotated agent token is found by the same
    lookup as the one it replaces, and verified against either until it is confirmed."""
    issued = issue(prefix)
    secret = issued.plaintext.split("_", 2)[2]
    return IssuedSecret(
        plaintext=f"{prefix}_{key_id}_{secret}", key_id=key_id, verifier=issued.verifier
    )


def parse(token: str, prefix: str) -> tuple[str, str]:
    """Split a credential into (id, secret); anything malformed is simply not valid."""
    match = _TOKEN.match(token or "")
    if not match or match.group(1) != prefix:
        raise Unauthenticated(_INVALID[prefix])
    return match.group(2), match.group(3)


def verify(secret: str, verifier: HashedSecret) -> bool:
    return hmac.compare_digest(_digest(verifier.salt, secret), verifier.digest)


_INVALID = {
    API_KEY_PREFIX: "the API key is missing, malformed, revoked or unknown",
    AGENT_TOKEN_PREFIX: "the agent token is missing, malformed or unknown",
    SESSION_PREFIX: "the session has expired or was signed out; log in again",
}


@dataclass(frozen=True)
class Principal:
    """Who is calling, for which workspace, with what rights, through which interface."""

    workspace_id: str
    actor: str
    scope: Scope
    interface: Interface
    key_id: str | None = None
    environment_ids: frozenset[str] = field(default_factory=frozenset)
    session_id: str | None = None  # a signed-in person (their GitHub token is on it)

    def can(self, scope: Scope) -> bool:
        return SCOPE_RANK[self.scope] >= SCOPE_RANK[scope]

    def require(self, scope: Scope) -> None:
        if not self.can(scope):
            raise Forbidden(
                f"this needs the '{scope.value}' scope; the credential has '{self.scope.value}'",
                code="insufficient_scope",
            )

    def may_see(self, environment_id: str) -> bool:
        """Whether the credential's environment restriction (if any) includes this one."""
        return not self.environment_ids or environment_id in self.environment_ids

    def require_environment(self, environment_id: str) -> None:
        if not self.may_see(environment_id):
            raise Forbidden(
                f"this API key is restricted to other environments than {environment_id}",
                code="environment_not_allowed",
            )


def authenticate_api_key(store: Store, token: str, interface: Interface) -> Principal:
    key_id, secret = parse(token, API_KEY_PREFIX)
    key = store.lookup(ApiKey, key_id)
    if key is None or key.revoked_at is not None or not verify(secret, key.verifier):
        raise Unauthenticated(_INVALID[API_KEY_PREFIX])
    _touch(store, key)
    return Principal(
        workspace_id=key.workspace_id,
        actor=f"key:{key.id}",
        scope=key.top_scope,
        interface=interface,
        key_id=key.id,
        environment_ids=frozenset(key.environment_ids),
    )


def authenticate_session(store: Store, token: str) -> tuple[Session, str]:
    """Return the live session and the workspace it is signed into."""
    session_id, secret = parse(token, SESSION_PREFIX)
    session = store.lookup(Session, session_id)
    now = int(utcnow().timestamp())
    if session is None or session.expires_at <= now or not verify(secret, session.verifier):
        raise Unauthenticated(_INVALID[SESSION_PREFIX])
    return session, session.workspace_id


def _touch(store: Store, key: ApiKey) -> None:
    """Record when a key was last used, at most every few minutes."""
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at >= _LAST_USED_GRANULARITY:
        store.set_fields(key, last_used_at=now.isoformat())
