"""`vmk_` API keys through the MCP SDK's bearer-token verification.

The SDK's `BearerAuthBackend` asks a `TokenVerifier` about every request's bearer
token; ours is `vmkit.auth.authenticate_api_key`, the very check REST uses, with the
interface set to `mcp` so every change a tool makes is audited as coming from MCP.
It reads the key's row on each request, so a revoked or rotated key is refused on
the next call. The resulting `Principal` rides on the access token, where tools read
it back (`current_principal`); scopes are enforced by the services, per tool.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio.to_thread
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from pydantic import ConfigDict, Field

from vmkit import auth
from vmkit.auth import Principal
from vmkit.deps import Deps
from vmkit.errors import Unauthenticated
from vmkit.models import SCOPE_RANK, Interface


class PrincipalToken(AccessToken):
    """An access token that carries the VMKit principal it was issued to."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    principal: Principal = Field(exclude=True)


class ApiKeyVerifier:
    """The SDK's `TokenVerifier` protocol over VMKit's API keys."""

    def __init__(self, deps: Callable[[], Deps]):
        self._deps = deps

    async def verify_token(self, token: str) -> AccessToken | None:
        # The key lookup is a blocking DynamoDB call: keep it off the event loop,
        # which the local stack shares with every other request.
        return await anyio.to_thread.run_sync(self._verify, token)

    def _verify(self, token: str) -> PrincipalToken | None:
        try:
            principal = auth.authenticate_api_key(self._deps().store, token, Interface.mcp)
        except Unauthenticated:
            return None
        return PrincipalToken(
            # The token field holds only the key's public hint, so no copy of the
            # secret outlives the request in anything the SDK might log or keep.
            token=f"{auth.API_KEY_PREFIX}_{principal.key_id}_…",
            client_id=principal.actor,
            scopes=_implied_scopes(principal),
            principal=principal,
        )


def _implied_scopes(principal: Principal) -> list[str]:
    """Scopes are ranked (admin ⊃ deploy ⊃ read); the SDK sees each one a key implies."""
    rank = SCOPE_RANK[principal.scope]
    return [scope.value for scope, r in SCOPE_RANK.items() if r <= rank]


def current_principal() -> Principal:
    """The caller of the tool being run (set by the SDK's auth middleware)."""
    token = get_access_token()
    if not isinstance(token, PrincipalToken):
        raise Unauthenticated("send an API key as 'Authorization: Bearer vmk_…'")
    return token.principal
