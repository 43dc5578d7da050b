"""Agent identity: a `vmka_` token authenticates exactly one instance, on the WebSocket API only."""

from __future__ import annotations

from vmkit import auth
from vmkit.deps import Deps
from vmkit.errors import Unauthenticated
from vmkit.models import Instance, InstanceStatus


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
    return instance if auth.verify(secret, instance.agent_verifier) else None
