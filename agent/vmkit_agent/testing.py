"""Stand-ins for what the agent talks to, for tests and the bench (not shipped in the
zipapp): the control plane's gateway, and a web server for agent downloads.

The gateway does what the agent relies on: checks `Authorization: Bearer` on the upgrade and
refuses with 401, records `register` and `heartbeat` events, optionally acknowledges
the registration with a `server_time`, sends calls, and matches replies to calls by id
from any connection, reassembling chunked replies, as the real server does.
"""

from __future__ import annotations

import asyncio
import http.server
import itertools
import json
import threading
from collections.abc import Collection
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed


class GatewayConnection:
    """One agent connection as the gateway sees it."""

    def __init__(self, ws: ServerConnection):
        self.ws = ws
        self.register: dict[str, Any] | None = None
        self.registered = asyncio.Event()
        self.heartbeats: list[dict[str, Any]] = []
        self.frames: list[str] = []
        self.closed = asyncio.Event()
        self._changed = asyncio.Condition()

    async def _note(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_heartbeats(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.heartbeats) >= count)
        return self.heartbeats

    @property
    def close_code(self) -> int | None:
        return self.ws.close_code


class TestGateway:
    __test__ = False  # not a pytest test class despite the name

    def __init__(self, *, tokens: Collection[str], ack_register: bool = True):
        self.tokens = set(tokens)
        self.ack_register = ack_register
        self.connections: list[GatewayConnection] = []
        self.refusals = 0
        self.unmatched: list[dict[str, Any]] = []  # replies with no waiting call (id null …)
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._chunks: dict[str, dict[int, dict[str, Any]]] = {}
        self._frame_counts: dict[str, int] = {}
        self._changed = asyncio.Condition()
        self._ids = itertools.count(1)
        self._server: Server | None = None

    async def __aenter__(self) -> TestGateway:
        self._server = await serve(
            self._handle, "127.0.0.1", 0, process_request=self._authorize, compression=None
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}/agent"

    # Waiting on what agents do -------------------------------------------------

    async def _note(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(predicate)

    async def registered(self, index: int, timeout: float = 10.0) -> GatewayConnection:
        """The `index`-th connection (0-based, in connect order), once it registered."""
        await self.wait_for(
            lambda: len(self.connections) > index and self.connections[index].registered.is_set(),
            timeout,
        )
        return self.connections[index]

    # Talking to an agent -------------------------------------------------------

    async def call(
        self,
        conn: GatewayConnection,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """Send a call and return the reply (chunks merged, with a `frames` count)."""
        call_id = f"call-{next(self._ids)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        await conn.ws.send(
            json.dumps({"id": call_id, "type": "call", "method": method, "params": params or {}})
        )
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(call_id, None)

    def start_call(
        self, conn: GatewayConnection, method: str, params: dict[str, Any] | None = None
    ) -> asyncio.Task[dict[str, Any]]:
        return asyncio.create_task(self.call(conn, method, params, timeout=60))

    async def send_raw(self, conn: GatewayConnection, frame: str | bytes) -> None:
        await conn.ws.send(frame)

    def drop(self, conn: GatewayConnection) -> None:
        """Cut the TCP connection without a close frame, as a network failure would."""
        conn.ws.transport.abort()

    # Server side ---------------------------------------------------------------

    def _authorize(self, connection: ServerConnection, request: Any) -> Any:
        header = request.headers.get("Authorization", "")
        if header.removeprefix("Bearer ") in self.tokens and header.startswith("Bearer "):
            return None
        self.refusals += 1
        asyncio.get_running_loop().create_task(self._note())
        return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid agent token\n")

    async def _handle(self, ws: ServerConnection) -> None:
        conn = GatewayConnection(ws)
        self.connections.append(conn)
        await self._note()
        try:
            async for frame in ws:
                conn.frames.append(frame if isinstance(frame, str) else frame.decode())
                await self._on_message(conn, json.loads(frame))
                await conn._note()
                await self._note()
        except ConnectionClosed:
            pass  # an agent going away is normal here
        finally:
            conn.closed.set()
            await self._note()

    async def _on_message(self, conn: GatewayConnection, message: dict[str, Any]) -> None:
        kind, method = message.get("type"), message.get("method")
        if kind == "event" and method == "register":
            conn.register = message
            conn.registered.set()
            if self.ack_register:
                now = datetime.now(UTC).isoformat()
                ack = {"ok": True, "server_time": now}
                await conn.ws.send(
                    json.dumps(
                        {"id": message["id"], "type": "result", "method": "register", "result": ack}
                    )
                )
        elif kind == "event" and method == "heartbeat":
            conn.heartbeats.append(message["params"])
        elif kind in ("result", "error"):
            self._on_reply(message)

    def _on_reply(self, message: dict[str, Any]) -> None:
        call_id = message.get("id")
        future = self._pending.get(call_id) if isinstance(call_id, str) else None
        if future is None or future.done():
            self.unmatched.append(message)
            return
        self._frame_counts[call_id] = self._frame_counts.get(call_id, 0) + 1
        chunk = message.get("chunk")
        if chunk is None:
            future.set_result({**message, "frames": self._frame_counts.pop(call_id)})
            return
        parts = self._chunks.setdefault(call_id, {})
        parts[chunk["index"]] = message["result"]
        if len(parts) < chunk["count"]:
            return
        merged: dict[str, Any] = {}
        for index in range(chunk["count"]):
            for key, value in parts[index].items():
                if isinstance(value, list):
                    merged.setdefault(key, []).extend(value)
                else:
                    merged.setdefault(key, value)
        del self._chunks[call_id]
        future.set_result(
            {**message, "result": merged, "chunk": None, "frames": self._frame_counts.pop(call_id)}
        )


class FileServer:
    """A loopback HTTP server for downloads: `serve(path, body)` returns its URL."""

    def __init__(self) -> None:
        files: dict[str, bytes] = {}
        requests: list[str] = []
        self.files, self.requests = files, requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                requests.append(self.path)
                body = files.get(self.path.split("?")[0])
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def serve(self, path: str, body: bytes) -> str:
        self.files[path] = body
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_port}{path}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
