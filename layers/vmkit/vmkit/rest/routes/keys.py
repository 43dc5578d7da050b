from fastapi import APIRouter, status

from vmkit.rest.deps import Cursor, DepsDep, KeyIdPath, Limit, PrincipalDep
from vmkit.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic, ListOf
from vmkit.services import keys

router = APIRouter(prefix="/api/keys", tags=["keys"])


@router.get("", name="list_api_keys")
def list_api_keys(
    deps: DepsDep, principal: PrincipalDep, limit: Limit = 50, cursor: Cursor = None
) -> ListOf[ApiKeyPublic]:
    page = keys.list_keys(deps, principal, limit=limit, cursor=cursor)
    return ListOf[ApiKeyPublic].of(page.map(ApiKeyPublic.model_validate))


@router.post("", name="create_api_key", status_code=status.HTTP_201_CREATED)
def create_api_key(deps: DepsDep, principal: PrincipalDep, body: ApiKeyCreate) -> ApiKeyCreated:
    key, plaintext = keys.create_key(deps, principal, body)
    return ApiKeyCreated.model_validate(
        {**ApiKeyPublic.model_validate(key).model_dump(), "key": plaintext}
    )


@router.post("/{key_id}/rotate", name="rotate_api_key", status_code=status.HTTP_201_CREATED)
def rotate_api_key(deps: DepsDep, principal: PrincipalDep, key_id: KeyIdPath) -> ApiKeyCreated:
    key, plaintext = keys.rotate_key(deps, principal, key_id)
    return ApiKeyCreated.model_validate(
        {**ApiKeyPublic.model_validate(key).model_dump(), "key": plaintext}
    )


@router.delete("/{key_id}", name="revoke_api_key")
def revoke_api_key(deps: DepsDep, principal: PrincipalDep, key_id: KeyIdPath) -> ApiKeyPublic:
    return ApiKeyPublic.model_validate(keys.revoke_key(deps, principal, key_id))
