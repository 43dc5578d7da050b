"""The App, the signed-in user and the OAuth web flow (installations: `routes_installations`)."""

from __future__ import annotations

import json
import secrets
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from ..endpoint import Call, JsonApi
from .auth import new_token, require_app, require_user
from .shapes import app_json, private_user_json

if TYPE_CHECKING:
    from .simulator import GitHubSimulator

OAUTH_CODE_LIFETIME = 600
OAUTH_DOCS = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"


def register(api: JsonApi, sim: GitHubSimulator) -> None:
    @api.route("/app", ["GET"])
    def get_app(call: Call) -> Response:
        require_app(call.principal)
        with sim.state.lock:
            app = sim.state.data["app"]
            owner = sim.state.user(f"{app['slug']}-owner")
            count = len(sim.state.data["installations"])
            return JSONResponse(app_json(call.base_url, app, owner, count))

    @api.route("/user", ["GET"])
    def get_signed_in_user(call: Call) -> Response:
        require_user(call.principal)
        with sim.state.lock:
            user = sim.actor(call)
            owned = [r for r in sim.state.data["repos"].values() if r["owner"] == user["login"]]
            counts = (
                sum(1 for r in owned if not r["private"]),
                sum(1 for r in owned if r["private"]),
            )
            return JSONResponse(private_user_json(call.base_url, user, counts))


def oauth_routes(sim: GitHubSimulator) -> list[Route]:
    """The web flow on the API host, where githubkit sends it for a non-github.com base URL.

    `authorize` stands in for the consent page: the browser is sent straight back with a
    code for `sim.signed_in_user`. Token errors are 200 answers with an `error` field,
    as on GitHub.
    """
    codes: dict[str, dict[str, Any]] = {}

    async def authorize(request: Request) -> Response:
        query = request.query_params
        if query.get("client_id") != sim.client_id:
            return PlainTextResponse("Not Found", status_code=404)
        registered = sim.oauth_callback_url
        redirect_uri = query.get("redirect_uri") or registered
        if redirect_uri is None:
            return PlainTextResponse("redirect_uri is required", status_code=400)
        state = {"state": query["state"]} if "state" in query else {}
        if registered and not redirect_uri.startswith(registered):
            error = {
                "error": "redirect_uri_mismatch",
                "error_description": "The redirect_uri MUST match the registered callback URL "
                "for this application.",
                "error_uri": f"{OAUTH_DOCS}#redirect-uri-mismatch",
            }
            return RedirectResponse(
                f"{registered}?{urlencode({**error, **state})}", status_code=302
            )
        code = secrets.token_hex(10)
        with sim.state.lock:
            sim.state.ensure_user(sim.signed_in_user)
            sim.state.save()
        codes[code] = {
            "login": sim.signed_in_user,
            "redirect_uri": query.get("redirect_uri"),
            "expires": time.monotonic() + OAUTH_CODE_LIFETIME,
        }
        separator = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(
            f"{redirect_uri}{separator}{urlencode({'code': code, **state})}", status_code=302
        )

    async def access_token(request: Request) -> Response:
        params = dict(request.query_params)
        raw = await request.body()
        if "json" in request.headers.get("content-type", ""):
            try:
                params.update(json.loads(raw or b"{}"))
            except ValueError:
                return JSONResponse({"message": "Problems parsing JSON"}, status_code=400)
        else:
            params.update({k: v[0] for k, v in parse_qs(raw.decode()).items()})
        answer = await run_in_threadpool(exchange, params)
        if "json" in request.headers.get("accept", ""):
            return JSONResponse(answer)
        return Response(urlencode(answer), media_type="application/x-www-form-urlencoded")

    def exchange(params: dict[str, Any]) -> dict[str, Any]:
        if params.get("client_id") != sim.client_id or not secrets.compare_digest(
            str(params.get("client_secret", "")), sim.client_secret
        ):
            return _oauth_error(
                "incorrect_client_credentials",
                "The client_id and/or client_secret passed are incorrect.",
            )
        grant = codes.pop(str(params.get("code", "")), None)
        if grant is None or grant["expires"] < time.monotonic():
            return _oauth_error("bad_verification_code", "The code passed is incorrect or expired.")
        if grant["redirect_uri"] and params.get("redirect_uri") not in (
            None,
            grant["redirect_uri"],
        ):
            return _oauth_error(
                "redirect_uri_mismatch",
                "The redirect_uri MUST match the registered callback URL for this application.",
            )
        token = new_token("ghu_")
        with sim.state.lock:
            sim.state.remember_token(token, {"kind": "user", "login": grant["login"]})
            sim.state.save()
        return {"access_token": token, "token_type": "bearer", "scope": ""}

    return [
        Route("/login/oauth/authorize", authorize, methods=["GET"]),
        Route("/login/oauth/access_token", access_token, methods=["POST"]),
    ]


def _oauth_error(code: str, description: str) -> dict[str, str]:
    anchor = code.replace("_", "-")
    return {"error": code, "error_description": description, "error_uri": f"{OAUTH_DOCS}#{anchor}"}
