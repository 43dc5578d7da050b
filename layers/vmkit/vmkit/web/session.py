"""Who is looking at the dashboard, and proof that a form came from it.

Two credentials sign a browser in, both kept in one HttpOnly, SameSite=Lax cookie
(Secure whenever the dashboard is served over HTTPS, as on AWS): a `vms_` session from
GitHub sign-in (the REST API's `/api/auth/callback` sets it), or a `vmk_` API key an
operator pasted once, the fallback where no GitHub sign-in is configured. The page
never sees either: scripts cannot read an HttpOnly cookie.

CSRF: every form and every htmx request carries a token derived from the cookie's
credential (HMAC-SHA256 keyed by it), so a page on another site, which cannot read
the cookie or the dashboard's pages, cannot produce it. Before sign-in, the sign-in
form uses a double-submit token: a random value in a cookie of its own and the form.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

from vmkit import auth
from vmkit.auth import Principal
from vmkit.deps import Deps
from vmkit.errors import Forbidden, Unauthenticated
from vmkit.models import Interface
from vmkit.services import workspaces

COOKIE = "vmkit_session"  # the REST API's session cookie: one sign-in for both
PRE_CSRF_COOKIE = "vmkit_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
KEY_LIFETIME_S = 12 * 3600  # a pasted key is kept for a working day, not a week


def secure_cookies(deps: Deps, request: Request) -> bool:
    base = deps.settings.public_url or str(request.base_url)
    return base.startswith("https://")


def set_credential(deps: Deps, request: Request, response: Response, credential: str) -> None:
    response.set_cookie(
        COOKIE,
        credential,
        max_age=KEY_LIFETIME_S
        if credential.startswith(auth.API_KEY_PREFIX + "_")
        else workspaces.SESSION_LIFETIME_S,
        path="/",
        httponly=True,
        secure=secure_cookies(deps, request),
        samesite="lax",
    )


def clear_credential(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/")


def principal(deps: Deps, request: Request) -> Principal | None:
    """The signed-in principal, or None (no cookie, or one that no longer works)."""
    credential = request.cookies.get(COOKIE)
    if not credential:
        return None
    try:
        if credential.startswith(auth.API_KEY_PREFIX + "_"):
            return auth.authenticate_api_key(deps.store, credential, Interface.rest)
        return workspaces.session_principal(deps, credential)
    except Unauthenticated:
        return None


def csrf_token(request: Request) -> str:
    credential = request.cookies.get(COOKIE)
    if credential:
        mac = hmac.new(credential.encode(), b"vmkit/dashboard-csrf/v1", hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")
    return request.cookies.get(PRE_CSRF_COOKIE) or ""


def new_pre_csrf() -> str:
    return secrets.token_urlsafe(24)


def check_csrf(request: Request, form: dict[str, str]) -> None:
    """Refuse a mutating request whose token is missing or not this browser's."""
    sent = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD) or ""
    expected = csrf_token(request)
    if not expected or not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Forbidden(
            "this form's security token is missing or out of date (it protects you from "
            "requests made by other sites); reload the page and submit it again",
            code="csrf_failed",
        )
