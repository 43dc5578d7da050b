from fastapi import APIRouter

from vmkit.rest.deps import DepsDep, PrincipalDep
from vmkit.schemas import CatalogPublic
from vmkit.services import compute_targets

router = APIRouter(prefix="/api/catalog", tags=["compute targets"])


@router.get("", name="get_catalog")
def get_catalog(deps: DepsDep, principal: PrincipalDep) -> CatalogPublic:
    """The sizes, regions and monthly prices of every provider a compute target can use."""
    return compute_targets.describe_catalog(deps, principal)
