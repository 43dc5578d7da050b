from fastapi import APIRouter

from vmkit.rest.deps import Cursor, DepsDep, Limit, PrincipalDep
from vmkit.schemas import AuditEventPublic, ListOf
from vmkit.services import audit

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get("", name="list_audit_events")
def list_audit_events(
    deps: DepsDep, principal: PrincipalDep, limit: Limit = 50, cursor: Cursor = None
) -> ListOf[AuditEventPublic]:
    page = audit.list_events(deps, principal, limit=limit, cursor=cursor)
    return ListOf[AuditEventPublic].of(page.map(AuditEventPublic.model_validate))
