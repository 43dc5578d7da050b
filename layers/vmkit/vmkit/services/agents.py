"""Agent identity: a `vmka_` token authenticates exactly one instance, on the WebSocket API only."""

from __future__ import annotations

from dataclasses import dataclass

from vmkit import auth
from vmkit.deps import Deps
from vmkit.errors import Unauthenticated
from vmkit.models import Instance, InstanceStatus, utcnow


@dataclass(frozen=True)
class AgentLogin:
    """Who dialled in; `rotated`: with a rotated token, not yet adopted (services/rotation)."""

    instance: Instance
    rotated: bool = False


def authenticate(deps: Deps, authorization: str) -> AgentLogin | None:
    """Read-only, as the authorizer's role is: `$connect` adopts a rotated token."""
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
        return AgentLogin(instance)
    pending = instance.pending_agent_verifier
    if pending is not None and auth.verify(secret, pending):
        return AgentLogin(instance, rotated=True)
    return None


def adopt_rotated_token(deps: Deps, workspace_id: str, instance_id: str) -> None:
    """At `$connect` of an agent that presented its rotated token: that token becomes the
    token, and the old one is refused from now on."""
    instance = deps.store.find(Instance, workspace_id, instance_id)
    if instance is None or instance.pending_agent_verifier is None:
        return
    deps.store.set_fields(
        instance,
        agent_verifier=instance.pending_agent_verifier,
        pending_agent_verifier=None,
        agent_token_rotated_at=utcnow(),
    )
