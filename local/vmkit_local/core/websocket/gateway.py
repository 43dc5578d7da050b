"""API Gateway's WebSocket API, played by a `websockets` server.

What it does, as API Gateway does (choices where AWS is silent are marked *local*):
- Clients connect to `ws://host:port/{stage}`; another path is refused with 403.
- `$connect`: the identity sources of the REQUEST authorizer must be present (else 401
  without calling it); the authorizer runs (`Unauthorized` error → 401, Deny or no
  Allow → 403, other errors or an unusable policy → 500); then the `$connect`
  integration runs: a non-2xx `statusCode` refuses the upgrade with that status, an
  error refuses it with 500. Only then is the connection open and known to
  `@connections` (so a `$connect` handler cannot post to its own connection, as on AWS).
- Each text message goes to the route chosen by the route selection expression
  (`$request.body.action`), else `$default`; messages run concurrently, as separate
  Lambda invocations do. A route with a route response sends the integration's `body`
  back; without one, nothing is sent. An integration error sends
  `{"message": "Internal server error", "connectionId", "requestId"}`, a timeout
  (29 s) `{"message": "Endpoint request timed out", ...}`, and a message no route
  takes `{"message": "Forbidden", ...}`.
- Limits: frames over 32 KB or messages over 128 KB close the connection with 1009;
  binary frames close it with 1003; idle connections (*local*: no data frame in either
  direction) close after 10 minutes and every connection after 2 hours, both with
  1001 (*local* code). Both durations are configurable.
- `$disconnect` runs after the connection is gone (best effort: a failure is logged).
- Messages sent to clients (route responses, `@connections` posts) are split into
  frames of at most 32 KB, as API Gateway does; UTF-8 data goes as text (*local*:
  anything else as binary).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from vmkit_local.core.asgi import AppSpec, UvicornServer
from vmkit_local.core.functions import Invocation
from vmkit_local.core.loop import LoopThread
from vmkit_local.core.resources import WebSocketApiSpec, WebSocketRoute
from vmkit_local.core.websocket import events
from vmkit_local.core.websocket.events import ConnectionInfo
from vmkit_local.core.websocket.management import ConnectionsApi
from vmkit_local.core.websocket.policy import InvalidAuthorizerResponse, decide

log = logging.getLogger(__name__)

Invoke = Callable[[str, Any], Invocation]


@dataclass(frozen=True)
class GatewayLimits:
    """API Gateway's WebSocket quotas; tests shrink the durations."""

    frame_bytes: int = 32 * 1024
    message_bytes: int = 128 * 1024
    idle_timeout_s: float = 600.0
    max_connection_s: float = 7200.0
    integration_timeout_s: float = 29.0


@dataclass
class Connection:
    info: ConnectionInfo
    websocket: ServerConnection
    authorizer: dict[str, Any] | None
    last_active_ms: int = field(default_factory=events.now_ms)
    last_active_monotonic: float = field(default_factory=time.monotonic)
    # (code, reason) when the gateway itself ended the connection.
    closed_by_gateway: tuple[int, str] | None = None

    def touch(self) -> None:
        self.last_active_ms = events.now_ms()
        self.last_active_monotonic = time.monotonic()


@dataclass(frozen=True)
class _Pending:
    """A connection accepted by $connect whose upgrade is being completed."""

    info: ConnectionInfo
    authorizer: dict[str, Any] | None


class _Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _utf8_fragments(data: bytes, limit: int) -> Iterator[bytes]:
    """Split UTF-8 bytes into pieces of at most `limit` bytes, never inside a character."""
    start = 0
    while start < len(data):
        end = min(start + limit, len(data))
        while end < len(data) and end > start and (data[end] & 0xC0) == 0x80:
            end -= 1
        yield data[start:end]
        start = end


class WebSocketGateway:
    """The WebSocket API of the template, with its `@connections` management API."""

    def __init__(
        self,
        api: WebSocketApiSpec,
        invoke: Invoke,
        websocket_socket: socket.socket,
        management_socket: socket.socket,
        *,
        region: str,
        account_id: str,
        limits: GatewayLimits | None = None,
    ):
        self.api = api
        self.limits = limits or GatewayLimits()
        self.region = region
        self.account_id = account_id
        self._invoke_function = invoke
        self._socket = websocket_socket
        host, self.port = websocket_socket.getsockname()[:2]
        management_host, management_port = management_socket.getsockname()[:2]
        self.url = f"ws://{host}:{self.port}/{api.stage}"
        self.management_url = f"http://{management_host}:{management_port}/{api.stage}"
        self.connections: dict[str, Connection] = {}
        # Weak: a client may vanish between an accepted $connect and the upgrade.
        self._pending: weakref.WeakKeyDictionary[ServerConnection, _Pending] = (
            weakref.WeakKeyDictionary()
        )
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop = LoopThread("websocket-gateway")
        self._executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="ws-integration")
        self._server: Server | None = None
        self._stopped = False
        self._management = UvicornServer(
            "connections", AppSpec(ConnectionsApi(self), lifespan="off"), management_socket
        )

    @property
    def method_arn(self) -> str:
        api = self.api
        return (
            f"arn:aws:execute-api:{self.region}:{self.account_id}:{api.api_id}/{api.stage}/$connect"
        )

    # ----- lifecycle

    def start(self) -> None:
        self._loop.start()
        try:
            self._loop.run(self._start())
        except BaseException:
            self._loop.stop()
            raise

    async def _start(self) -> None:
        handshake_budget = 2 * self.limits.integration_timeout_s + 5
        self._server = await serve(
            self._handle,
            sock=self._socket,
            process_request=self._process_request,
            max_size=(self.limits.message_bytes, self.limits.frame_bytes),
            compression=None,
            ping_interval=None,
            open_timeout=handshake_budget,
            close_timeout=2,
            server_header=None,
        )
        await self._management.start()

    def stop(self) -> None:
        """Close every connection (their $disconnect runs) and stop serving. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self._loop.run(self._stop(), timeout=30)
        finally:
            self._loop.stop()
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def _stop(self) -> None:
        await self._management.stop()
        if self._server is not None:
            for connection in list(self.connections.values()):
                connection.closed_by_gateway = (1001, "Going away")
            self._server.close(close_connections=True)
            await self._server.wait_closed()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=self.limits.integration_timeout_s)
        self._socket.close()

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("gateway task failed", exc_info=task.exception())

    # ----- integrations

    async def _invoke(self, function_name: str, event: dict[str, Any]) -> Invocation:
        loop = asyncio.get_running_loop()
        call = loop.run_in_executor(self._executor, self._invoke_function, function_name, event)
        return await asyncio.wait_for(call, self.limits.integration_timeout_s)

    # ----- opening handshake: authorizer and $connect

    async def _process_request(
        self, websocket: ServerConnection, request: Request
    ) -> Response | None:
        url = urlsplit(request.path)
        if url.path.rstrip("/") != f"/{self.api.stage}":
            return self._refusal(websocket, HTTPStatus.FORBIDDEN, "Forbidden")
        headers = list(request.headers.raw_items())
        query = parse_qs(url.query, keep_blank_values=True)
        remote = websocket.remote_address
        info = ConnectionInfo(
            connection_id=events.new_id(),
            api_id=self.api.api_id,
            stage=self.api.stage,
            domain_name=request.headers.get("Host", f"127.0.0.1:{self.port}"),
            source_ip=str(remote[0]) if remote else "127.0.0.1",
            user_agent=request.headers.get("User-Agent"),
            connected_at_ms=events.now_ms(),
            port=self.port,
            trace_id=f"Root=1-{int(time.time()):08x}-{events.new_id()}",
        )
        try:
            authorizer = await self._authorize(info, request.headers, headers, query)
            await self._connect(info, headers, query, authorizer)
        except _Refused as refused:
            return self._refusal(websocket, refused.status, refused.message)
        self._pending[websocket] = _Pending(info, authorizer)
        return None

    @staticmethod
    def _refusal(websocket: ServerConnection, status: int, message: str) -> Response:
        response = websocket.respond(status, json.dumps({"message": message}))
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = "application/json"
        return response

    async def _authorize(
        self,
        info: ConnectionInfo,
        request_headers: Headers,
        headers: list[tuple[str, str]],
        query: dict[str, list[str]],
    ) -> dict[str, Any] | None:
        authorizer = self.api.authorizer
        if authorizer is None:
            return None
        for source in authorizer.identity_sources:
            if not self._identity_present(source, request_headers, query):
                raise _Refused(HTTPStatus.UNAUTHORIZED, "Unauthorized")
        started = time.monotonic()
        event = events.authorizer_event(info, headers, query, self.method_arn)
        try:
            invocation = await self._invoke(authorizer.function_name, event)
        except TimeoutError as exc:
            raise _Refused(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal server error") from exc
        if invocation.function_error:
            message = (invocation.json() or {}).get("errorMessage")
            if message == "Unauthorized":
                raise _Refused(HTTPStatus.UNAUTHORIZED, "Unauthorized")
            log.warning(
                "authorizer %s failed: %s", authorizer.function_name, invocation.payload[:500]
            )
            raise _Refused(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal server error")
        try:
            decision = decide(invocation.json(), self.method_arn)
        except InvalidAuthorizerResponse as exc:
            log.warning("authorizer %s: %s", authorizer.function_name, exc)
            raise _Refused(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal server error") from exc
        if not decision.allowed:
            raise _Refused(HTTPStatus.FORBIDDEN, "Forbidden")
        return decision.request_context_authorizer(int((time.monotonic() - started) * 1000))

    @staticmethod
    def _identity_present(source: str, headers: Headers, query: dict[str, list[str]]) -> bool:
        if source.startswith("route.request.header."):
            return bool(headers.get(source.removeprefix("route.request.header.")))
        if source.startswith("route.request.querystring."):
            return any(query.get(source.removeprefix("route.request.querystring."), []))
        return True  # stage variables and context sources are always there locally

    async def _connect(
        self,
        info: ConnectionInfo,
        headers: list[tuple[str, str]],
        query: dict[str, list[str]],
        authorizer: dict[str, Any] | None,
    ) -> None:
        route = self.api.routes.get("$connect")
        if route is None:
            return
        event = events.connect_event(info, headers, query, authorizer)
        try:
            invocation = await self._invoke(route.function_name, event)
        except TimeoutError as exc:
            raise _Refused(HTTPStatus.GATEWAY_TIMEOUT, "Endpoint request timed out") from exc
        if invocation.function_error:
            log.warning("$connect %s failed: %s", route.function_name, invocation.payload[:500])
            raise _Refused(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal server error")
        result = invocation.json()
        status = result.get("statusCode", 200) if isinstance(result, dict) else 200
        if not 200 <= int(status) < 300:
            body = result.get("body") if isinstance(result, dict) else None
            raise _Refused(int(status), str(body or HTTPStatus(int(status)).phrase))

    # ----- an open connection

    async def _handle(self, websocket: ServerConnection) -> None:
        pending = self._pending.pop(websocket)
        connection = Connection(pending.info, websocket, pending.authorizer)
        self.connections[pending.info.connection_id] = connection
        try:
            await self._receive(connection)
        finally:
            self.connections.pop(pending.info.connection_id, None)
            self._spawn(self._disconnect(connection))

    async def _receive(self, connection: Connection) -> None:
        websocket = connection.websocket
        final_deadline = time.monotonic() + self.limits.max_connection_s
        while True:
            idle_deadline = connection.last_active_monotonic + self.limits.idle_timeout_s
            timeout = min(idle_deadline, final_deadline) - time.monotonic()
            try:
                async with asyncio.timeout(max(timeout, 0)):
                    message = await websocket.recv()
            except TimeoutError:
                reason = (
                    "Idle timeout"
                    if idle_deadline < final_deadline
                    else "Connection duration exceeded"
                )
                await self.close(connection, 1001, "Going away", disconnect_reason=reason)
                return
            except ConnectionClosed:
                return
            connection.touch()
            if isinstance(message, bytes):
                await self.close(connection, 1003, "Binary frames are not supported")
                return
            self._spawn(self._route_message(connection, message))

    async def close(
        self,
        connection: Connection,
        code: int,
        reason: str,
        *,
        disconnect_reason: str | None = None,
    ) -> None:
        connection.closed_by_gateway = (code, disconnect_reason or reason)
        await connection.websocket.close(code, reason)

    def _select_route(self, body: str) -> WebSocketRoute | None:
        expression = self.api.route_selection_expression.strip("${}")
        if expression.startswith("request.body."):
            try:
                value: Any = json.loads(body)
                for part in expression.removeprefix("request.body.").split("."):
                    # A message without the key goes to $default, as on API Gateway.
                    value = value.get(part) if isinstance(value, dict) else None
            except json.JSONDecodeError:
                value = None
            if isinstance(value, str) and value in self.api.routes and not value.startswith("$"):
                return self.api.routes[value]
        return self.api.routes.get("$default")

    async def _route_message(self, connection: Connection, body: str) -> None:
        route = self._select_route(body)
        event = events.message_event(
            connection.info, route.route_key if route else "$default", body, connection.authorizer
        )
        request_id = event["requestContext"]["requestId"]
        if route is None:
            await self._send_error(connection, "Forbidden", request_id)
            return
        try:
            invocation = await self._invoke(route.function_name, event)
        except TimeoutError:
            await self._send_error(connection, "Endpoint request timed out", request_id)
            return
        if invocation.function_error:
            log.warning("route %s failed: %s", route.route_key, invocation.payload[:500])
            await self._send_error(connection, "Internal server error", request_id)
            return
        if route.returns_response:
            result = invocation.json()
            reply = result.get("body") if isinstance(result, dict) else result
            if reply not in (None, ""):
                await self._send_quietly(
                    connection, reply if isinstance(reply, str) else json.dumps(reply)
                )

    async def _send_error(self, connection: Connection, message: str, request_id: str) -> None:
        error = {
            "message": message,
            "connectionId": connection.info.connection_id,
            "requestId": request_id,
        }
        await self._send_quietly(connection, json.dumps(error))

    async def _send_quietly(self, connection: Connection, data: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self.send(connection, data.encode())

    async def send(self, connection: Connection, data: bytes) -> None:
        """Send one message to a client, in frames of at most the frame limit."""
        connection.touch()
        limit = self.limits.frame_bytes
        fragments: list[str] | list[bytes]
        try:
            fragments = [piece.decode() for piece in _utf8_fragments(data, limit)] or [""]
        except UnicodeDecodeError:
            fragments = [data[start : start + limit] for start in range(0, len(data), limit)]
        await connection.websocket.send(fragments[0] if len(fragments) == 1 else fragments)

    # ----- closing

    def _disconnect_status(self, connection: Connection) -> tuple[int, str]:
        if connection.closed_by_gateway is not None:
            return connection.closed_by_gateway
        protocol = connection.websocket.protocol
        received, sent = protocol.close_rcvd, protocol.close_sent
        if received is not None and (sent is None or protocol.close_rcvd_then_sent):
            reason = received.reason or (
                "Client-side close frame status not set"
                if received.code == 1005
                else "Client closed"
            )
            return received.code, reason
        if sent is not None:
            return sent.code, sent.reason or "Server closed"
        return 1006, "Connection lost"

    async def _disconnect(self, connection: Connection) -> None:
        route = self.api.routes.get("$disconnect")
        if route is None:
            return
        code, reason = self._disconnect_status(connection)
        event = events.disconnect_event(connection.info, code, reason, connection.authorizer)
        try:
            invocation = await self._invoke(route.function_name, event)
        except TimeoutError:
            log.warning("$disconnect %s timed out", route.function_name)
            return
        if invocation.function_error:
            log.warning("$disconnect %s failed: %s", route.function_name, invocation.payload[:500])
