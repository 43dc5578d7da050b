"""Glue between Starlette's async routing and the simulators' plain synchronous handlers.

Handlers take a `Call` (the parsed request) and return a Starlette `Response`. They run
in the threadpool because they take locks, write snapshots and shell out to `git`; the
async part here only reads the body. Each simulator raises its own `SimulatorError`
subclass, which knows how that API spells an error, so a handler never builds an error
body by hand.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import URL, Headers, QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


class SimulatorError(Exception):
    """An error a simulated API answers with; subclasses render that API's error body."""

    def to_response(self) -> Response:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True)
class Call:
    """One API request, as the synchronous handlers see it."""

    method: str
    url: URL
    path_params: dict[str, Any]
    query: QueryParams
    headers: Headers
    body: Any
    raw_body: bytes
    base_url: str
    """Scheme, host and port the client used, without a trailing slash (for URL fields)."""
    principal: Any = None
    """Whatever the simulator's authenticator returned for this request."""


Handler = Callable[[Call], Response]
Authenticator = Callable[[Call], Any]


class JsonApi:
    """Collects routes whose handlers receive a `Call` with the JSON body already parsed.

    `bad_json` builds the API's error for a body that is not JSON; `authenticate`
    (optional) runs before every handler of this API and returns the principal, or
    raises the API's authentication error.
    """

    def __init__(
        self,
        *,
        bad_json: Callable[[], SimulatorError],
        authenticate: Authenticator | None = None,
        prefix: str = "",
    ) -> None:
        self._bad_json = bad_json
        self._authenticate = authenticate
        self._prefix = prefix
        self.routes: list[Route] = []

    def route(
        self, path: str, methods: list[str], *, public: bool = False
    ) -> Callable[[Handler], Handler]:
        """Register `handler` for `path`; `public=True` skips authentication."""

        def register(handler: Handler) -> Handler:
            authenticate = None if public else self._authenticate
            endpoint = self._endpoint(handler, authenticate)
            self.routes.append(Route(self._prefix + path, endpoint, methods=methods))
            return handler

        return register

    def add_routes(self, table: Iterable[tuple[str, list[str], Handler]]) -> None:
        """Register a table of `(path, methods, handler)` rows."""
        for path, methods, handler in table:
            self.route(path, methods)(handler)

    def _endpoint(self, handler: Handler, authenticate: Authenticator | None):
        bad_json = self._bad_json

        async def endpoint(request: Request) -> Response:
            raw = await request.body()
            try:
                body = json.loads(raw) if raw.strip() else None
            except (UnicodeDecodeError, json.JSONDecodeError):
                return bad_json().to_response()
            call = Call(
                method=request.method,
                url=request.url,
                path_params=dict(request.path_params),
                query=request.query_params,
                headers=request.headers,
                body=body,
                raw_body=raw,
                base_url=str(request.base_url).rstrip("/"),
            )
            return await run_in_threadpool(_invoke, handler, authenticate, call)

        endpoint.__name__ = handler.__name__
        return endpoint


def _invoke(handler: Handler, authenticate: Authenticator | None, call: Call) -> Response:
    try:
        if authenticate is not None:
            call = _with_principal(call, authenticate(call))
        return handler(call)
    except SimulatorError as error:
        return error.to_response()


def _with_principal(call: Call, principal: Any) -> Call:
    return replace(call, principal=principal)


def bearer_token(call: Call) -> str | None:
    """The credential of an `Authorization: Bearer …` (or GitHub's `token …`) header."""
    header = call.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() in ("bearer", "token") and credential.strip():
        return credential.strip()
    return None
