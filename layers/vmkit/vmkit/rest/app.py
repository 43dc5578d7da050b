"""The FastAPI application: routers, the error shape, the body limit, OpenAPI.

Routers are registered on demand, by path prefix, the first time a request needs
them. FastAPI analyses every route's parameters and response model when it is
registered (~2 ms a route); a Lambda cold start serves one request, so registering
only that request's router group cuts the cold start without changing behaviour.
Asking for the OpenAPI document registers everything.
"""

from __future__ import annotations

import importlib
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

import vmkit.rest.deps  # noqa: F401  (what every request needs: auth, store, boto3)
from vmkit.rest import errors
from vmkit.rest.limits import BodyLimit
from vmkit.settings import get_settings

ROUTERS = {
    "/api/auth": "auth",
    "/api/keys": "keys",
    "/api/members": "members",
    "/api/compute-targets": "compute_targets",
    "/api/catalog": "catalog",
    "/api/repos": "repos",
    "/api/installations": "installations",
    "/api/github": "installations",
    "/api/environments": "environments",
    "/api/instances": "instances",
    "/api/deploys": "deploys",
    "/api/audit": "audit",
}
SECURITY_SCHEMES = {
    "apiKey": {"type": "http", "scheme": "bearer", "description": "A `vmk_` API key."},
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": "vmkit_session",
        "description": "Browser session after GitHub sign-in.",
    },
}
PUBLIC_OPERATIONS = {"health", "login", "login_callback", "logout"}
# Every status an operation can answer with besides its own success, all in the one
# error shape: 5xx too (a provider or agent failing, VMKit not configured for a
# feature, a bug), so a generated client knows to expect them.
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": errors.ErrorResponse, "description": description}
    for code, description in {
        401: "No valid credential (API key or session)",
        403: "The credential may not do this (scope, environment, installation, role)",
        404: "No such resource in this workspace",
        409: "Conflicts with the current state (a deploy in progress, a name taken)",
        413: "Request body or stored value over its size limit",
        422: "The request is not valid; details name the fields",
        500: "A bug on VMKit's side; it was logged",
        502: "A cloud provider, GitHub or the VM's agent failed the request",
        503: "VMKit is not configured for this, or a provider is briefly unavailable",
    }.items()
}


def _operation_id(route: APIRoute) -> str:
    # Stable ids (`list_environments`) make the OpenAPI usable for generated clients.
    return route.name


class _Routers:
    """Includes each router module into the app once, when first needed."""

    def __init__(self, app: FastAPI):
        self.app = app
        self.included: set[str] = set()

    def include(self, module: str) -> None:
        if module not in self.included:
            router = importlib.import_module(f"vmkit.rest.routes.{module}").router
            self.app.include_router(router)
            self.included.add(module)

    def include_for(self, path: str) -> None:
        for prefix, module in ROUTERS.items():
            if path == prefix or path.startswith(prefix + "/"):
                self.include(module)
                return

    def include_all(self) -> None:
        for module in ROUTERS.values():
            self.include(module)


class _IncludeOnDemand:
    def __init__(self, app: ASGIApp, routers: _Routers):
        self.app = app
        self.routers = routers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.routers.include_for(scope["path"])
        await self.app(scope, receive, send)


def create_app() -> FastAPI:
    app = FastAPI(
        title="VMKit",
        version="0.1.0",
        description="From a GitHub repo to a live HTTPS app on a server you own.",
        generate_unique_id_function=_operation_id,
        responses=_ERRORS,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    routers = _Routers(app)
    errors.install(app)

    @app.get("/health", tags=["meta"], name="health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(BodyLimit, max_bytes=get_settings().max_body_bytes)
    app.add_middleware(_IncludeOnDemand, routers=routers)
    _document(app, routers)
    return app


def _document(app: FastAPI, routers: _Routers) -> None:
    """The OpenAPI document: every router, and how each operation authenticates."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        routers.include_all()
        spec = build()
        spec.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
        for path in spec["paths"].values():
            for operation in path.values():
                public = operation["operationId"] in PUBLIC_OPERATIONS
                operation["security"] = [] if public else [{"apiKey": []}, {"session": []}]
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
