from fastapi import APIRouter

from vmkit.rest.deps import (
    Cursor,
    DeployIdPath,
    DepsDep,
    EnvironmentIdQuery,
    Limit,
    PrincipalDep,
)
from vmkit.schemas import DeployPublic, ListOf
from vmkit.services import deploys

router = APIRouter(prefix="/api/deploys", tags=["deploys"])


@router.get("", name="list_deploys")
def list_deploys(
    deps: DepsDep,
    principal: PrincipalDep,
    environment_id: EnvironmentIdQuery = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> ListOf[DeployPublic]:
    page = deploys.list_deploys(
        deps, principal, environment_id=environment_id, limit=limit, cursor=cursor
    )
    return ListOf[DeployPublic].of(page.map(DeployPublic.model_validate))


@router.get("/{deploy_id}", name="get_deploy")
def get_deploy(deps: DepsDep, principal: PrincipalDep, deploy_id: DeployIdPath) -> DeployPublic:
    return DeployPublic.model_validate(deploys.get_deploy(deps, principal, deploy_id))


@router.post("/{deploy_id}/cancel", name="cancel_deploy")
def cancel_deploy(deps: DepsDep, principal: PrincipalDep, deploy_id: DeployIdPath) -> DeployPublic:
    """Stop a running deploy; what it already created stays and the next deploy reuses it."""
    return DeployPublic.model_validate(deploys.cancel_deploy(deps, principal, deploy_id))
