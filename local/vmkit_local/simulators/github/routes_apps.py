"""The App, its installations and tokens, the signed-in user and the OAuth web flow."""

from __future__ import annotations

import json
import secrets
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from ..clock import iso_seconds, utc_now
from ..endpoint import Call, JsonApi
from .auth import Principal, new_token
from .errors import (
    GitHubError,
    not_accessible_by_integration,
    not_found,
    requires_authentication,
    unprocessable,
)
from .paging import page_of
from .shapes import app_json, for_rest, installation_json, private_user_json

if TYPE_CHECKING:
    from .simulator import GitHubSimulator

INSTALLATION_TOKEN_LIFETIME = timedelta(hours=1)
OAUTH_CODE_LIFETIME = 600
OAUTH_DOCS = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"


def register(api: JsonApi, sim: GitHubSimulator) -> None:
    def require_app(call: Call) -> None:
        kind = call.principal.kind
        if kind == "anonymous":
            raise requires_authentication()
        if kind != "app":
            raise GitHubError(401, "A JSON web token could not be decoded")

    def installation_out(call: Call, installation: dict[str, Any]) -> dict[str, Any]:
        account = sim.state.user(installation["account"])
        return installation_json(call.base_url, installation, account, sim.state.data["app"])

    @api.route("/app", ["GET"])
    def get_app(call: Call) -> Response:
        require_app(call)
        with sim.state.lock:
            app = sim.state.data["app"]
            owner = sim.state.user(f"{app['slug']}-owner")
            count = len(sim.state.data["installations"])
            return JSONResponse(app_json(call.base_url, app, owner, count))

    @api.route("/app/installations", ["GET"])
    def list_installations(call: Call) -> Response:
        require_app(call)
        with sim.state.lock:
            installations = sorted(sim.state.data["installations"].values(), key=lambda i: i["id"])
            window, headers = page_of(call, installations)
            return JSONResponse([installation_out(call, i) for i in window], headers=headers)

    @api.route("/app/installations/{installation_id}", ["GET"])
    def get_installation(call: Call) -> Response:
        require_app(call)
        with sim.state.lock:
            installation = sim.state.installation(call.path_params["installation_id"])
            if installation is None:
                raise not_found()
            return JSONResponse(installation_out(call, installation))

    @api.route("/app/installations/{installation_id}/access_tokens", ["POST"])
    def create_installation_token(call: Call) -> Response:
        require_app(call)
        body = call.body if isinstance(call.body, dict) else {}
        with sim.state.lock:
            installation = sim.state.installation(call.path_params["installation_id"])
            if installation is None:
                raise not_found()
            owned = {
                repo["name"].lower(): repo
                for repo in sim.state.data["repos"].values()
                if repo["owner"] == installation["account"]
            }
            names = body.get("repositories") or []
            if not isinstance(names, list) or any(str(n).lower() not in owned for n in names):
                raise unprocessable(
                    "There is at least one repository that does not exist or is not "
                    "accessible to the parent installation."
                )
            token = new_token("ghs_")
            expires = iso_seconds(utc_now() + INSTALLATION_TOKEN_LIFETIME)
            sim.state.remember_token(
                token,
                {
                    "kind": "installation",
                    "installation_id": installation["id"],
                    "expires_at": expires,
                    "repositories": [owned[str(n).lower()]["full_name"] for n in names] or None,
                },
            )
            sim.state.save()
            out: dict[str, Any] = {
                "token": token,
                "expires_at": expires,
                "permissions": body.get("permissions")
                or installation_out(call, installation)["permissions"],
                "repository_selection": "selected" if names else "all",
            }
            if names:
                out["repositories"] = [
                    sim.repo_json(call.base_url, owned[str(n).lower()]) for n in names
                ]
        return JSONResponse(for_rest(call, out), status_code=201)

    @api.route("/repos/{owner}/{repo}/installation", ["GET"])
    def get_repo_installation(call: Call) -> Response:
        require_app(call)
        with sim.state.lock:
            repo = sim.state.repo(call.path_params["owner"], call.path_params["repo"])
            installation = repo and sim.state.installation_for(repo["owner"])
            if not installation:
                raise not_found()
            return JSONResponse(installation_out(call, installation))

    @api.route("/installation/repositories", ["GET"])
    def list_installation_repos(call: Call) -> Response:
        principal: Principal = call.principal
        if principal.kind != "installation":
            raise GitHubError(403, "This endpoint can only be accessed with an installation token")
        with sim.state.lock:
            installation = sim.state.installation(principal.installation_id)
            repos = sorted(
                (
                    r
                    for r in sim.state.data["repos"].values()
                    if r["owner"] == installation["account"]
                ),
                key=lambda r: r["full_name"],
            )
            window, headers = page_of(call, repos)
            body = {
                "total_count": len(repos),
                "repository_selection": "all",
                "repositories": [sim.repo_json(call.base_url, repo) for repo in window],
            }
            return JSONResponse(for_rest(call, body), headers=headers)

    @api.route("/user", ["GET"])
    def get_signed_in_user(call: Call) -> Response:
        user = signed_in(call)
        with sim.state.lock:
            owned = [r for r in sim.state.data["repos"].values() if r["owner"] == user["login"]]
            counts = (
                sum(1 for r in owned if not r["private"]),
                sum(1 for r in owned if r["private"]),
            )
            return JSONResponse(private_user_json(call.base_url, user, counts))

    @api.route("/user/installations", ["GET"])
    def list_user_installations(call: Call) -> Response:
        user = signed_in(call)
        with sim.state.lock:
            installation = sim.state.installation_for(user["login"])
            installations = [installation_out(call, installation)] if installation else []
        return JSONResponse({"total_count": len(installations), "installations": installations})

    def signed_in(call: Call) -> dict[str, Any]:
        kind = call.principal.kind
        if kind == "anonymous":
            raise requires_authentication()
        if kind != "user":
            raise not_accessible_by_integration()
        return sim.actor(call)


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
