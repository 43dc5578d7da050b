from fastapi import APIRouter

from vmkit.rest.deps import Cursor, DepsDep, InstanceIdPath, Limit, PrincipalDep
from vmkit.schemas import InstancePublic, ListOf
from vmkit.services import instances

router = APIRouter(prefix="/api/instances", tags=["instances"])


@router.get("", name="list_instances")
def list_instances(
    deps: DepsDep, principal: PrincipalDep, limit: Limit = 50, cursor: Cursor = None
) -> ListOf[InstancePublic]:
    page = instances.list_instances(deps, principal, limit=limit, cursor=cursor)
    return ListOf[InstancePublic](
        items=[InstancePublic.from_record(i) for i in page.items], next_cursor=page.next_cursor
    )


@router.get("/{instance_id}", name="get_instance")
def get_instance(
    deps: DepsDep, principal: PrincipalDep, instance_id: InstanceIdPath
) -> InstancePublic:
    return InstancePublic.from_record(instances.get_instance(deps, principal, instance_id))
