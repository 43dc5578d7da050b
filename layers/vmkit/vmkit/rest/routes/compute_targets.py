from fastapi import APIRouter, Response, status

from vmkit.rest.deps import Cursor, DepsDep, Limit, PrincipalDep, TargetIdPath
from vmkit.schemas import ComputeTargetCreate, ComputeTargetPublic, ComputeTargetUpdate, ListOf
from vmkit.services import compute_targets

router = APIRouter(prefix="/api/compute-targets", tags=["compute targets"])


@router.get("", name="list_compute_targets")
def list_compute_targets(
    deps: DepsDep, principal: PrincipalDep, limit: Limit = 50, cursor: Cursor = None
) -> ListOf[ComputeTargetPublic]:
    page = compute_targets.list_targets(deps, principal, limit=limit, cursor=cursor)
    return ListOf[ComputeTargetPublic].of(page.map(ComputeTargetPublic.model_validate))


@router.post("", name="create_compute_target", status_code=status.HTTP_201_CREATED)
def create_compute_target(
    deps: DepsDep, principal: PrincipalDep, body: ComputeTargetCreate
) -> ComputeTargetPublic:
    return ComputeTargetPublic.model_validate(compute_targets.create_target(deps, principal, body))


@router.get("/{target_id}", name="get_compute_target")
def get_compute_target(
    deps: DepsDep, principal: PrincipalDep, target_id: TargetIdPath
) -> ComputeTargetPublic:
    return ComputeTargetPublic.model_validate(
        compute_targets.get_target(deps, principal, target_id)
    )


@router.patch("/{target_id}", name="update_compute_target")
def update_compute_target(
    deps: DepsDep, principal: PrincipalDep, target_id: TargetIdPath, body: ComputeTargetUpdate
) -> ComputeTargetPublic:
    return ComputeTargetPublic.model_validate(
        compute_targets.update_target(deps, principal, target_id, body)
    )


@router.delete("/{target_id}", name="delete_compute_target", status_code=status.HTTP_204_NO_CONTENT)
def delete_compute_target(
    deps: DepsDep, principal: PrincipalDep, target_id: TargetIdPath
) -> Response:
    compute_targets.delete_target(deps, principal, target_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
