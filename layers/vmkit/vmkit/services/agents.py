"""Agent identity: a `vmka_` token authenticates exactly one instance, on the WebSocket API only."""

from __future__ import annotations

from vmkit import auth
from vmkit.deps import Deps
from vmkit.errors import Unauthenticated
from vmkit.models import Instance, InstanceStatus, utcnow


def authenticate(deps: Deps, authorization: str) -> Instance | None:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    try:
        token_id, secret = auth.parse(token.strip(), auth.AGENT_TOKEN_PREFIX)
    except Unauthenticated:
        return None
    instance = deps.store.lookup(Instance, token_id)
    if (
        instance is None
        or instance.agent_verifier is None
        or instance.status is InstanceStatus.destroyed
    ):
        return None
    if auth.verify(secret, instance.agent_verifier):
        return instance
    pending = instance.pending_agent_verifier
    if pending is not None and auth.verify(secret, pending):
        # A rotated token, presented for the first time: it becomes the token, and the
        # old one is refused from now on (services/rotation).
        deps.store.set_fields(
            instance,
            agent_verifier=pending,
            pending_agent_verifier=None,
            agent_token_rotated_at=utcnow(),
        )
        return instance
    return None
