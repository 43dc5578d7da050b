"""The app router: `http://{name}.localhost:{port}` to the container serving that name.

A request goes the way it would on the internet: the Host header is resolved through
DNS (an injected `resolve`, backed by the Cloudflare simulator's A records in the
local stack), the IP leads to a sandbox VM, and that VM's kamal-proxy stand-in
(`proxy.json`, read per request so a switch is seen by the next request) names the
container and port. The request is buffered (kamal-proxy buffers requests by default)
and the response streamed back.

A request whose upstream refuses the connection is retried once when the route
changed in the meantime: it read the route just before a deploy switched it, and the
old container is already gone. Nothing was sent, so the retry is safe for any method.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from vmkit_local.sandbox import proxy

Resolve = Callable[[str], str | None]  # host name → IPv4 address (an A record), or None
RootForIp = Callable[[str], Path | None]
PortForIp = Callable[[str], int | None]  # a real guest's HTTP port, forwarded to loopback
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
    }
)
_MAX_REQUEST_BODY = 1_000_000_000  # kamal-proxy's default max_request_body
_RESPONSE_TIMEOUT = 30.0  # kamal-proxy's default response_timeout


class AppRouter:
    """ASGI app: the whole router. Run it under uvicorn (`RouterServer` does)."""

    def __init__(
        self,
        resolve: Resolve,
        root_for_ip: RootForIp,
        *,
        apps_domain: str = "localhost",
        guest_port_for_ip: PortForIp | None = None,
    ):
        """`resolve` and `root_for_ip` are called from worker threads and may block.

        An IP that `guest_port_for_ip` knows is a real guest: the request goes to its
        forwarded port 80, where the guest's own kamal-proxy routes it by Host.

        With an `apps_domain` other than `localhost`, `{name}.localhost` is served as
        `{name}.{apps_domain}`: the name DNS and the app's `proxy.host` use, so the
        local stack can keep the production naming while browsers reach it on loopback.
        """
        self._resolve = resolve
        self._root_for_ip = root_for_ip
        self._guest_port_for_ip = guest_port_for_ip or (lambda ip: None)
        self._apps_domain = apps_domain
        self._client: httpx.AsyncClient | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._handle(scope, receive, send)
        else:  # websockets are not routed to apps in the sandbox
            await send({"type": "websocket.close", "code": 1003})

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._client is not None:
                    await self._client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        host_header = next((v for k, v in headers if k.lower() == "host"), "")
        host = self._app_host(host_header.rsplit(":", 1)[0].lower()) if host_header else ""
        ip = await asyncio.to_thread(self._resolve, host) if host else None
        if ip is None:
            return await _plain(
                send,
                404,
                f"No app is deployed at {host or '(no Host header)'}: "
                "the name has no DNS record.\n",
            )
        guest_port = await asyncio.to_thread(self._guest_port_for_ip, ip)
        root = None if guest_port else await asyncio.to_thread(self._root_for_ip, ip)
        if root is None and guest_port is None:
            return await _plain(send, 502, f"{host} points at {ip}, where no VM is running.\n")
        route = (
            {"container": f"the kamal-proxy of the VM at {ip}", "port": guest_port}
            if guest_port
            else await asyncio.to_thread(proxy.route_for, root, host)
        )
        if route is None:
            return await _plain(send, 404, f"The VM at {ip} has no app deployed for {host}.\n")
        body = await _read_body(receive)
        if body is None:
            return await _plain(send, 413, "Request body too large.\n")
        await self._forward(scope, headers, host_header, body, root, host, route, send)

    async def _forward(
        self,
        scope: dict[str, Any],
        headers: list[tuple[str, str]],
        host_header: str,
        body: bytes,
        root: Path | None,
        host: str,
        route: dict[str, Any],
        send: Any,
    ) -> None:
        client = self._http()
        path = scope.get("raw_path") or scope["path"].encode()
        query = f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else ""
        forwarded = [
            (k, v)
            for k, v in headers
            if k.lower() not in _HOP_BY_HOP and not k.lower().startswith("x-forwarded-")
        ]
        client_ip = (scope.get("client") or ("", 0))[0]
        forwarded += [
            ("host", host_header),
            ("x-forwarded-for", client_ip),
            ("x-forwarded-host", host_header),
            ("x-forwarded-proto", scope.get("scheme", "http")),
        ]
        for attempt in (1, 2):
            url = f"http://127.0.0.1:{route['port']}{path.decode('latin-1')}{query}"
            request = client.build_request(scope["method"], url, headers=forwarded, content=body)
            try:
                response = await client.send(request, stream=True)
                break
            except httpx.ConnectError:
                fresh = root and await asyncio.to_thread(proxy.route_for, root, host)
                if attempt == 1 and fresh and fresh["container"] != route["container"]:
                    route = fresh
                    continue
                return await _plain(
                    send, 502, f"The app container {route['container']} is not answering.\n"
                )
            except httpx.TimeoutException:
                return await _plain(
                    send, 504, f"The app container {route['container']} timed out.\n"
                )
        try:
            response_headers = [
                (k.encode("latin-1"), v.encode("latin-1"))
                for k, v in response.headers.multi_items()
                if k.lower() not in _HOP_BY_HOP
            ]
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": response_headers,
                }
            )
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()

    def _app_host(self, host: str) -> str:
        if self._apps_domain != "localhost" and host.endswith(".localhost"):
            return f"{host.removesuffix('.localhost')}.{self._apps_domain}"
        return host

    def _http(self) -> httpx.AsyncClient:
        # No keep-alive to containers: an idle pooled connection would hold a drained
        # container "busy" and bind requests to a container the route has moved away from.
        if self._client is None:
            self._client = httpx.AsyncClient(
                trust_env=False,
                limits=httpx.Limits(max_keepalive_connections=0),
                timeout=httpx.Timeout(_RESPONSE_TIMEOUT, connect=5.0),
            )
        return self._client


class RouterServer:
    """Serve an `AppRouter` on a loopback port from a background thread (tests, local stack)."""

    def __init__(
        self,
        app: AppRouter,
        host: str = "127.0.0.1",
        port: int = 0,
        sock: socket.socket | None = None,
    ):
        """On `host:port`, or on the bound socket `sock` the caller chose."""
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
        self._socket = sock
        self._socket.listen(128)  # connections made before uvicorn runs wait in the backlog
        self.port = self._socket.getsockname()[1]
        config = uvicorn.Config(app, lifespan="on", log_level="warning", server_header=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name="app-router",
            daemon=True,
        )

    def url(self, name: str) -> str:
        """Where the app called `name` answers: `http://{name}.localhost:{port}`."""
        return f"http://{name}.localhost:{self.port}"

    def start(self) -> RouterServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join()
        self._socket.close()

    def __enter__(self) -> RouterServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


async def _read_body(receive: Any) -> bytes | None:
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_REQUEST_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _plain(send: Any, status: int, text: str) -> None:
    body = text.encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
