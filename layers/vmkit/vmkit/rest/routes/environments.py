from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from vmkit.ids import id_pattern
from vmkit.rest.deps import Cursor, DepsDep, EnvironmentIdPath, Limit, PrincipalDep
from vmkit.schemas import (
    EnvironmentCreate,
    EnvironmentPublic,
    EnvironmentUpdate,
    EnvVarsUpdate,
    ListOf,
)
from vmkit.services import environments

router = APIRouter(prefix="/api/environments", tags=["environments"])


def _public(deps: DepsDep, env: environments.Environment) -> EnvironmentPublic:
    return EnvironmentPublic.from_record(env, deps.settings.apps_url_template)


@router.get("", name="list_environments")
def list_environments(
    deps: DepsDep,
    principal: PrincipalDep,
    repo_id: Annotated[str | None, Query(pattern=id_pattern("repo"))] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> ListOf[EnvironmentPublic]:
    page = environments.list_environments(
        deps, principal, repo_id=repo_id, limit=limit, cursor=cursor
    )
    return ListOf[EnvironmentPublic](
        items=[_public(deps, e) for e in page.items], next_cursor=page.next_cursor
    )


@router.post("", name="create_environment", status_code=status.HTTP_201_CREATED)
def create_environment(
    deps: DepsDep, principal: PrincipalDep, body: EnvironmentCreate
) -> EnvironmentPublic:
    return _public(deps, environments.create_environment(deps, principal, body))


@router.get("/{environment_id}", name="get_environment")
def get_environment(
    deps: DepsDep, principal: PrincipalDep, environment_id: EnvironmentIdPath
) -> EnvironmentPublic:
    return _public(deps, environments.get_environment(deps, principal, environment_id))


@router.patch("/{environment_id}", name="update_environment")
def update_environment(
    deps: DepsDep,
    principal: PrincipalDep,
    environment_id: EnvironmentIdPath,
    body: EnvironmentUpdate,
) -> EnvironmentPublic:
    return _public(deps, environments.update_environment(deps, principal, environment_id, body))


@router.patch("/{environment_id}/env-vars", name="set_env_vars")
def set_env_vars(
    deps: DepsDep, principal: PrincipalDep, environment_id: EnvironmentIdPath, body: EnvVarsUpdate
) -> EnvironmentPublic:
    return _public(deps, environments.set_env_vars(deps, principal, environment_id, body))


@router.delete(
    "/{environment_id}", name="delete_environment", status_code=status.HTTP_204_NO_CONTENT
)
def delete_environment(
    deps: DepsDep, principal: PrincipalDep, environment_id: EnvironmentIdPath
) -> Response:
    environments.delete_environment(deps, principal, environment_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
