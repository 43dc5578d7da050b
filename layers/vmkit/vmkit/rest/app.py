"""The FastAPI application: routers, the error shape, the body limit, OpenAPI."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import APIRoute

from vmkit.rest import errors
from vmkit.rest.limits import BodyLimit
from vmkit.rest.routes import (
    audit,
    auth,
    compute_targets,
    deploys,
    environments,
    instances,
    keys,
    repos,
)
from vmkit.settings import get_settings

ROUTERS = [auth, keys, compute_targets, repos, environments, instances, deploys, audit]
_ERRORS = {
    code: {"model": errors.ErrorResponse, "description": "Error in the standard shape"}
    for code in (401, 403, 404, 409, 413, 422)
}


def _operation_id(route: APIRoute) -> str:
    # Stable ids (`list_environments`) make the OpenAPI usable for generated clients.
    return route.name


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
    for module in ROUTERS:
        app.include_router(module.router)
    errors.install(app)

    @app.get("/health", tags=["meta"], name="health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(BodyLimit, max_bytes=get_settings().max_body_bytes)
    return app
