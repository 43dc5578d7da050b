"""Request dependencies, declared once as `Annotated` aliases that routes reuse."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Path, Query
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from vmkit import auth
from vmkit.auth import Principal
from vmkit.deps import Deps, get_deps
from vmkit.errors import Unauthenticated
from vmkit.ids import id_pattern
from vmkit.models import Interface
from vmkit.services import workspaces

SESSION_COOKIE = "vmkit_session"

_bearer = HTTPBearer(auto_error=False, description="A `vmk_` API key.")
_session = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, description="Browser session after GitHub login."
)

DepsDep = Annotated[Deps, Depends(get_deps)]


def _principal(
    deps: DepsDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    session: Annotated[str | None, Depends(_session)],
    interface: Annotated[
        Interface, Header(alias="X-VMKit-Interface", include_in_schema=False)
    ] = Interface.rest,
) -> Principal:
    # REST callers are people (browser, CLI) or programs; only those two interfaces can
    # be claimed here, so an audit entry cannot be made to look like MCP or a webhook.
    via = interface if interface in {Interface.rest, Interface.cli} else Interface.rest
    if bearer is not None:
        return auth.authenticate_api_key(deps.store, bearer.credentials, via)
    if session:
        return workspaces.session_principal(deps, session)
    raise Unauthenticated("send an API key as 'Authorization: Bearer vmk_…' or log in")


PrincipalDep = Annotated[Principal, Depends(_principal)]

Limit = Annotated[int, Query(ge=1, le=100, description="Page size.")]
Cursor = Annotated[
    str | None, Query(max_length=2048, description="`next_cursor` of the previous page.")
]


def id_path(kind: str, description: str) -> object:
    return Path(pattern=id_pattern(kind), description=description)


TargetIdPath = Annotated[str, id_path("compute_target", "Compute target id (`tgt_…`).")]
RepoIdPath = Annotated[str, id_path("repo", "Repo id (`repo_…`).")]
EnvironmentIdPath = Annotated[str, id_path("environment", "Environment id (`env_…`).")]
InstanceIdPath = Annotated[str, id_path("instance", "Instance id (`ins_…`).")]
DeployIdPath = Annotated[str, id_path("deploy", "Deploy id (`dep_…`).")]
KeyIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", description="API key id.")]
