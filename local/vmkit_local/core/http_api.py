"""API Gateway HTTP API and Lambda function URLs (payload format 2.0) in front of the
template's functions.

On AWS a request reaches the REST function as an API Gateway event that Mangum turns
back into ASGI, and `/api/webhooks/github` reaches its own function. Serving the
FastAPI app directly would skip both, so locally requests are routed by the
template's `HttpApi` events and turned into the same v2 events the real service
sends (shape: Powertools' captured `apiGatewayProxyV2Event.json`), then the handler
runs in the in-process Lambda runtime. Route precedence is API Gateway's: exact
paths, then paths with `{variables}`, then greedy `{proxy+}`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from vmkit_local.core.functions import FunctionRuntime

log = logging.getLogger(__name__)

_BINARY_TYPES = ("image/", "application/octet-stream", "application/zip", "application/gzip")


@dataclass(frozen=True)
class Route:
    method: str  # "ANY" or an HTTP method
    path: str  # "/api/webhooks/github", "/{proxy+}"
    function: str  # logical id
    key: str | None = None  # the event's routeKey when not "METHOD path"

    @property
    def route_key(self) -> str:
        return self.key or f"{self.method} {self.path}"

    @property
    def rank(self) -> tuple[int, int]:
        greedy = self.path.endswith("+}")
        variables = "{" in self.path
        return (2 if greedy else 1 if variables else 0, -len(self.path))

    def matches(self, method: str, path: str) -> bool:
        if self.method not in ("ANY", method):
            return False
        pattern = re.sub(r"\\\{[^/]+?\\\+\\\}", ".+", re.escape(self.path))
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", pattern)
        # DOTALL: API Gateway routes any character a path variable holds, newlines too.
        return re.fullmatch(pattern, path, re.DOTALL) is not None


def function_url(function: str) -> Route:
    """A Lambda function URL: every request goes to one function, routeKey `$default`
    (function URL events use the same payload format 2.0)."""
    return Route("ANY", "/{proxy+}", function, key="$default")


def routes_from_template(resources: dict[str, Any], api_id: str) -> list[Route]:
    """The routes of one HTTP API, read from its functions' `HttpApi` events."""
    routes = []
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in ((resource.get("Properties") or {}).get("Events") or {}).values():
            props = event.get("Properties") or {}
            target = (
                props.get("ApiId", {}).get("Ref") if isinstance(props.get("ApiId"), dict) else None
            )
            if event.get("Type") == "HttpApi" and target == api_id:
                routes.append(
                    Route(
                        str(props.get("Method", "ANY")).upper(), props.get("Path", "/"), logical_id
                    )
                )
    return sorted(routes, key=lambda r: r.rank)


class HttpApiGateway:
    """An ASGI app playing one HTTP API; `attach` it to the runtime once the stack is up."""

    def __init__(self, routes: list[Route], api_id: str = "localhttpapi"):
        self.routes = routes
        self.api_id = api_id
        self.runtime: FunctionRuntime | None = None
        self.function_names: dict[str, str] = {}

    def attach(self, runtime: FunctionRuntime | None, function_names: dict[str, str]) -> None:
        """Route to `runtime`, where functions go by their physical names."""
        self.runtime = runtime
        self.function_names = function_names

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        route = next((r for r in self.routes if r.matches(scope["method"], scope["path"])), None)
        if route is None or self.runtime is None:
            status = 404 if route is None else 503
            await _respond(
                send,
                status,
                {"content-type": "application/json"},
                json.dumps(
                    {"message": "Not Found" if route is None else "Service Unavailable"}
                ).encode(),
            )
            return
        event = self._event(scope, body, route)
        runtime = self.runtime
        name = self.function_names.get(route.function, route.function)
        invocation = await asyncio.to_thread(runtime.call, name, event)
        if invocation.function_error:
            # Lambda writes an unhandled error to the function's log; this is that log.
            log.warning(
                "%s failed: %s",
                route.function,
                invocation.payload[:4000].decode("utf-8", "replace"),
            )
            await _respond(
                send,
                500,
                {"content-type": "application/json"},
                b'{"message":"Internal Server Error"}',
            )
            return
        await _send_result(send, invocation.json())

    def _event(self, scope: dict[str, Any], body: bytes, route: Route) -> dict[str, Any]:
        headers: dict[str, str] = {}
        cookies: list[str] = []
        for raw_name, raw_value in scope.get("headers", []):
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            if name == "cookie":
                cookies.extend(c.strip() for c in value.split(";") if c.strip())
                continue
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        # API Gateway tells the function how the client connected, as these headers; Mangum
        # builds the request's URL from them (here plain HTTP, on AWS always HTTPS).
        client = scope.get("client") or ("127.0.0.1", 0)
        server = scope.get("server") or ("127.0.0.1", 80)
        headers.setdefault("x-forwarded-proto", scope.get("scheme", "http"))
        headers.setdefault("x-forwarded-port", str(server[1]))
        headers.setdefault("x-forwarded-for", client[0])
        query = scope.get("query_string", b"").decode("latin-1")
        params: dict[str, str] = {}
        for pair in filter(None, query.split("&")):
            key, _, value = pair.partition("=")
            params[key] = f"{params[key]},{value}" if key in params else value
        content_type = headers.get("content-type", "")
        binary = any(content_type.startswith(t) for t in _BINARY_TYPES)
        now = time.time()
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route.route_key,
            "rawPath": scope["path"],
            "rawQueryString": query,
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": self.api_id,
                "domainName": headers.get("host", "localhost"),
                "domainPrefix": headers.get("host", "localhost").split(".")[0],
                "http": {
                    "method": scope["method"],
                    "path": scope["path"],
                    "protocol": f"HTTP/{scope.get('http_version', '1.1')}",
                    "sourceIp": client[0],
                    "userAgent": headers.get("user-agent", ""),
                },
                "requestId": str(uuid.uuid4()),
                "routeKey": route.route_key,
                "stage": "$default",
                "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "timeEpoch": int(now * 1000),
            },
            "isBase64Encoded": binary,
        }
        if cookies:
            event["cookies"] = cookies
        if params:
            event["queryStringParameters"] = params
        if body:
            event["body"] = (
                base64.b64encode(body).decode() if binary else body.decode("utf-8", "replace")
            )
        return event


async def _send_result(send: Any, result: Any) -> None:
    """Turn a handler's result into a response as payload format 2.0 defines it."""
    if not isinstance(result, dict) or "statusCode" not in result:
        await _respond(send, 200, {"content-type": "application/json"}, json.dumps(result).encode())
        return
    headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers[name.lower()] = ",".join(map(str, values))
    raw_body = result.get("body") or ""
    body = base64.b64decode(raw_body) if result.get("isBase64Encoded") else str(raw_body).encode()
    await _respond(send, int(result["statusCode"]), headers, body, result.get("cookies") or [])


async def _respond(
    send: Any, status: int, headers: dict[str, str], body: bytes, cookies: list[str] | None = None
) -> None:
    raw = [(k.encode(), v.encode()) for k, v in headers.items() if k != "content-length"]
    raw += [(b"set-cookie", c.encode()) for c in cookies or []]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
