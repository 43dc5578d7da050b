"""The `@connections` management API, as an ASGI app on the gateway's event loop.

`POST/GET/DELETE /{stage}/@connections/{connection_id}`, spoken by boto3's
`apigatewaymanagementapi` client given `endpoint_url=<management URL>/{stage}`.
SigV4 headers are accepted and not checked. Errors have AWS's rest-json shape:
`x-amzn-ErrorType` header and a `{"message": ...}` body; an unknown or closed
connection is `410 GoneException`, data over 128 KB `413 PayloadTooLargeException`.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from websockets.exceptions import ConnectionClosed

if TYPE_CHECKING:
    from vmkit_local.core.websocket.gateway import Connection, WebSocketGateway

Scope = dict[str, Any]


def _iso(epoch_ms: int) -> str:
    return (
        datetime.fromtimestamp(epoch_ms / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


class ConnectionsApi:
    def __init__(self, gateway: WebSocketGateway):
        self.gateway = gateway
        stage = re.escape(gateway.api.stage)
        self._path = re.compile(rf"^/{stage}/@connections/(?P<connection_id>[^/]+)/?$")

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await self._read_body(receive)
        status, error_type, payload = await self._dispatch(scope, body)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
        ]
        if error_type:
            headers.append((b"x-amzn-errortype", error_type.encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    @staticmethod
    async def _read_body(receive: Any) -> bytes:
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                return b"".join(chunks)

    async def _dispatch(self, scope: Scope, body: bytes) -> tuple[int, str | None, bytes]:
        match = self._path.match(scope["path"])
        if match is None:
            return _error(403, "ForbiddenException", "Forbidden")
        connection = self.gateway.connections.get(match.group("connection_id"))
        if connection is None:
            return _error(410, "GoneException", None)
        method = scope["method"]
        if method == "POST":
            return await self._post(connection, body)
        if method == "GET":
            return 200, None, json.dumps(self._describe(connection)).encode()
        if method == "DELETE":
            await self.gateway.close(connection, 1000, "", disconnect_reason="Connection deleted")
            return 204, None, b""
        return _error(403, "ForbiddenException", "Forbidden")

    async def _post(self, connection: Connection, body: bytes) -> tuple[int, str | None, bytes]:
        limit = self.gateway.limits.message_bytes
        if len(body) > limit:
            return _error(
                413,
                "PayloadTooLargeException",
                f"Message too long: {len(body)} bytes, at most {limit}",
            )
        try:
            await self.gateway.send(connection, body)
        except ConnectionClosed:
            return _error(410, "GoneException", None)
        return 200, None, b""

    @staticmethod
    def _describe(connection: Connection) -> dict[str, Any]:
        identity = {"sourceIp": connection.info.source_ip}
        if connection.info.user_agent:
            identity["userAgent"] = connection.info.user_agent
        return {
            "connectedAt": _iso(connection.info.connected_at_ms),
            "identity": identity,
            "lastActiveAt": _iso(connection.last_active_ms),
        }


def _error(status: int, error_type: str, message: str | None) -> tuple[int, str, bytes]:
    return status, error_type, json.dumps({"message": message}).encode()
