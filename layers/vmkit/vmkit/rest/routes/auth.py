import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Cookie, Query, Request, Response, status
from fastapi.responses import RedirectResponse

from vmkit.errors import Unauthenticated
from vmkit.models import Member
from vmkit.rest.deps import SESSION_COOKIE, DepsDep, PrincipalDep
from vmkit.schemas import WhoAmI
from vmkit.services import github_login, workspaces

router = APIRouter(prefix="/api/auth", tags=["auth"])

STATE_COOKIE = "vmkit_oauth_state"


def _cookie(deps, request: Request) -> dict:
    """HttpOnly and SameSite always; Secure wherever VMKit is served over HTTPS (on AWS
    always), since a browser drops a Secure cookie set over plain HTTP (the local stack)."""
    base = deps.settings.public_url or str(request.base_url)
    return {"httponly": True, "secure": base.startswith("https://"), "samesite": "lax"}


@router.get(
    "/login", name="login", status_code=status.HTTP_302_FOUND, response_class=RedirectResponse
)
def login(request: Request, deps: DepsDep) -> RedirectResponse:
    """Start GitHub sign-in: redirect to GitHub with a one-time state bound to a cookie."""
    state = secrets.token_urlsafe(24)
    response = RedirectResponse(
        github_login.authorize_url(deps, state, str(request.base_url)),
        status_code=status.HTTP_302_FOUND,
    )
    response.set_cookie(
        STATE_COOKIE, state, max_age=600, path="/api/auth", **_cookie(deps, request)
    )
    return response


@router.get(
    "/callback",
    name="login_callback",
    status_code=status.HTTP_302_FOUND,
    response_class=RedirectResponse,
)
def login_callback(
    request: Request,
    deps: DepsDep,
    code: Annotated[str, Query(min_length=1, max_length=512)],
    state: Annotated[str, Query(min_length=1, max_length=256)],
    expected_state: Annotated[str | None, Cookie(alias=STATE_COOKIE)] = None,
) -> RedirectResponse:
    """Finish sign-in: check the state, exchange the code, start a session."""
    if not expected_state or not hmac.compare_digest(state.encode(), expected_state.encode()):
        raise Unauthenticated(
            "the sign-in state does not match; start the login again", code="state_mismatch"
        )
    _, _, session_token = workspaces.login(
        deps, github_login.identity_from_code(deps, code, str(request.base_url))
    )
    response = RedirectResponse("/", status_code=status.HTTP_302_FOUND)
    response.set_cookie(
        SESSION_COOKIE,
        session_token,
        max_age=workspaces.SESSION_LIFETIME_S,
        path="/",
        **_cookie(deps, request),
    )
    response.delete_cookie(STATE_COOKIE, path="/api/auth")
    return response


@router.get("/me", name="whoami")
def whoami(deps: DepsDep, principal: PrincipalDep) -> WhoAmI:
    member = (
        None
        if principal.key_id
        else deps.store.find(Member, principal.workspace_id, principal.actor)
    )
    return WhoAmI(
        workspace_id=principal.workspace_id,
        actor=principal.actor,
        scope=principal.scope,
        role=member.role if member else None,
        key_id=principal.key_id,
        environment_ids=sorted(principal.environment_ids),
    )


@router.post("/logout", name="logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(
    deps: DepsDep, session: Annotated[str | None, Cookie(alias=SESSION_COOKIE)] = None
) -> Response:
    if session:
        workspaces.logout(deps, session)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
