"""Fault injection: make the next N calls to a route fail as the real API fails.

The control plane must retry rate limits and server errors with backoff and fail fast
on the rest; these faults let tests (in-process, through `FaultInjector`) and the local
stack (over HTTP, through `/_sim/faults`) provoke exactly that. Each simulator renders a
fault with its API's real status, headers and error body.
"""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

ADMIN_PATH = "/_sim/faults"
INJECTABLE_STATUSES = frozenset({403, 429, *range(500, 600)})


@dataclass
class Fault:
    route: str
    """A glob over the request path without the API prefix, e.g. `/servers` or `/zones/*`."""
    method: str
    status: int
    remaining: int
    retry_after: int
    """Seconds the rate-limit headers tell the client to wait (429/403 faults)."""


class FaultInjector:
    """Thread-safe queue of pending faults, consumed by `FaultMiddleware`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def inject(
        self,
        route: str,
        status: int,
        *,
        times: int = 1,
        method: str = "*",
        retry_after: int = 1,
    ) -> None:
        """Answer the next `times` calls matching `method` and `route` with `status`."""
        if status not in INJECTABLE_STATUSES:
            raise ValueError(f"status must be 403, 429 or 5xx, not {status}")
        if times < 1:
            raise ValueError("times must be at least 1")
        if retry_after < 0:
            raise ValueError("retry_after must not be negative")
        fault = Fault(route, method.upper(), status, times, retry_after)
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[dict]:
        with self._lock:
            return [asdict(fault) for fault in self._faults]

    def take(self, method: str, path: str) -> Fault | None:
        """The fault this call must get (consuming one of its uses), or None."""
        with self._lock:
            for fault in self._faults:
                if fault.method in ("*", method) and fnmatch.fnmatchcase(path, fault.route):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None


FaultRenderer = Callable[[Fault], Response]


class FaultMiddleware:
    """Answers with an injected fault before the request reaches the API's routes."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        injector: FaultInjector,
        render: FaultRenderer,
        prefix: str = "",
    ) -> None:
        self.app = app
        self.injector = injector
        self.render = render
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/_sim/"):
            path = scope["path"]
            if self.prefix and path.startswith(self.prefix):
                path = path[len(self.prefix) :]
            fault = self.injector.take(scope["method"], path)
            if fault is not None:
                await self.render(fault)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def fault_admin_routes(injector: FaultInjector) -> list[Route]:
    """`POST /_sim/faults` {route, status, times?, method?, retry_after?}, `GET`, `DELETE`."""

    async def faults(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(injector.pending())
        if request.method == "DELETE":
            injector.clear()
            return Response(status_code=204)
        try:
            spec = await request.json()
            injector.inject(
                str(spec["route"]),
                int(spec["status"]),
                times=int(spec.get("times", 1)),
                method=str(spec.get("method", "*")),
                retry_after=int(spec.get("retry_after", 1)),
            )
        except (ValueError, KeyError, TypeError) as error:
            return JSONResponse({"error": f"invalid fault: {error}"}, status_code=400)
        return Response(status_code=204)

    return [Route(ADMIN_PATH, faults, methods=["GET", "POST", "DELETE"])]


def app_with_faults(
    routes: Sequence[BaseRoute],
    *,
    injector: FaultInjector,
    render: FaultRenderer,
    exception_handlers: Mapping[int, Callable[..., Any]],
    prefix: str = "",
) -> Starlette:
    """A simulator's ASGI app: its routes, `/_sim/faults`, and injected faults in front."""
    app = Starlette(
        routes=[*fault_admin_routes(injector), *routes],
        exception_handlers=dict(exception_handlers),
    )
    app.add_middleware(FaultMiddleware, injector=injector, render=render, prefix=prefix)
    return app
