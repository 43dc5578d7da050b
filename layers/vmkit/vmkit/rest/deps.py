"""Request dependencies, declared once as `Annotated` aliases that routes reuse."""

from typing import Annotated

from fastapi import Depends, Path, Query, Request

from vmkit import auth
from vmkit.auth import Principal
from vmkit.deps import Deps, get_deps
from vmkit.errors import Unauthenticated
from vmkit.models import Interface
from vmkit.schemas import CURSOR_CONSTRAINTS, LIMIT_CONSTRAINTS, id_constraints
from vmkit.services import workspaces

SESSION_COOKIE = "vmkit_session"
INTERFACE_HEADER = "x-vmkit-interface"

DepsDep = Annotated[Deps, Depends(get_deps)]


def _principal(request: Request, deps: DepsDep) -> Principal:
    """Authenticate the caller from a bearer API key or the session cookie.

    Read from the request directly rather than through FastAPI's security classes:
    those are analysed again for every route, which cost ~35 ms of cold start across
    the API. The schemes are still documented in OpenAPI (`vmkit.rest.app`).
    """
    # REST callers are people (browser, CLI) or programs; only those two interfaces can
    # be claimed here, so an audit entry cannot be made to look like MCP or a webhook.
    via = (
        Interface.cli if request.headers.get(INTERFACE_HEADER) == Interface.cli else Interface.rest
    )
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials:
        return auth.authenticate_api_key(deps.store, credentials.strip(), via)
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        return workspaces.session_principal(deps, session)
    raise Unauthenticated("send an API key as 'Authorization: Bearer vmk_…' or log in")


PrincipalDep = Annotated[Principal, Depends(_principal)]

Limit = Annotated[int, Query(**LIMIT_CONSTRAINTS)]
Cursor = Annotated[str | None, Query(**CURSOR_CONSTRAINTS)]


def _id(kind: str) -> object:
    return Path(**id_constraints(kind))


TargetIdPath = Annotated[str, _id("compute_target")]
RepoIdPath = Annotated[str, _id("repo")]
EnvironmentIdPath = Annotated[str, _id("environment")]
InstanceIdPath = Annotated[str, _id("instance")]
DeployIdPath = Annotated[str, _id("deploy")]
KeyIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", description="API key id.")]
EnvironmentIdQuery = Annotated[str | None, Query(**id_constraints("environment"))]
RepoIdQuery = Annotated[str | None, Query(**id_constraints("repo"))]
