"""Installations over REST (the App's, an installation's own, a user's) and the install page.

- The App (JWT): `GET /app/installations[/{id}]`, `DELETE /app/installations/{id}`,
  `PUT|DELETE /app/installations/{id}/suspended`, `POST .../access_tokens`, and the
  installation of a repository, organization or user (404 when none covers it).
- An installation token: `GET /installation/repositories`.
- A user token: `GET /user/installations` (the installations on the user's account and
  their organizations') and `GET /user/installations/{id}/repositories`.
- The browser: `GET /apps/{slug}/installations/new`, where GitHub lets the signed-in
  user pick an account; then the App's setup URL, with `state` passed through.
"""

from __future__ import annotations

from datetime import timedelta
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ..clock import iso_seconds, utc_now
from ..endpoint import Call, JsonApi
from .auth import Principal, new_token, require_app, require_installation, require_user
from .errors import installation_suspended, not_found, unprocessable
from .paging import page_of
from .shapes import for_rest

if TYPE_CHECKING:
    from .simulator import GitHubSimulator

INSTALLATION_TOKEN_LIFETIME = timedelta(hours=1)


def register(api: JsonApi, sim: GitHubSimulator) -> None:
    state = sim.state
    installations = sim.installations

    def app_installation(call: Call) -> dict[str, Any]:
        require_app(call.principal)
        installation = state.installation(call.path_params["installation_id"])
        if installation is None:
            raise not_found()
        return installation

    def installation_out(call: Call, installation: dict[str, Any] | None) -> Response:
        if installation is None:
            raise not_found()
        return JSONResponse(installations.json(call.base_url, installation))

    def repositories_page(call: Call, repos: list[dict[str, Any]], selection: str) -> Response:
        window, headers = page_of(call, repos)
        body = {
            "total_count": len(repos),
            "repository_selection": selection,
            "repositories": [sim.repo_json(call.base_url, repo) for repo in window],
        }
        return JSONResponse(for_rest(call, body), headers=headers)

    @api.route("/app/installations", ["GET"])
    def list_installations(call: Call) -> Response:
        require_app(call.principal)
        with state.lock:
            window, headers = page_of(call, state.installations())
            body = [installations.json(call.base_url, i) for i in window]
        return JSONResponse(body, headers=headers)

    @api.route("/app/installations/{installation_id}", ["GET"])
    def get_installation(call: Call) -> Response:
        with state.lock:
            return installation_out(call, app_installation(call))

    @api.route("/app/installations/{installation_id}", ["DELETE"])
    def delete_installation(call: Call) -> Response:
        with state.lock:
            installation = app_installation(call)
            installations.uninstall(installation["id"], by=sim.bot_login, base=call.base_url)
        return Response(status_code=204)

    @api.route("/app/installations/{installation_id}/suspended", ["PUT", "DELETE"])
    def suspend_installation(call: Call) -> Response:
        with state.lock:
            installation = app_installation(call)
            change = installations.suspend if call.method == "PUT" else installations.unsuspend
            change(installation["id"], by=sim.bot_login, base=call.base_url)
        return Response(status_code=204)

    @api.route("/app/installations/{installation_id}/access_tokens", ["POST"])
    def create_installation_token(call: Call) -> Response:
        body = call.body if isinstance(call.body, dict) else {}
        with state.lock:
            installation = app_installation(call)
            if installation["suspended_at"] is not None:
                raise installation_suspended()
            limited = _requested_repos(body, state.installation_repos(installation))
            token = new_token("ghs_")
            expires = iso_seconds(utc_now() + INSTALLATION_TOKEN_LIFETIME)
            state.remember_token(
                token,
                {
                    "kind": "installation",
                    "installation_id": installation["id"],
                    "expires_at": expires,
                    "repositories": [r["full_name"] for r in limited] if limited else None,
                },
            )
            state.save()
            out: dict[str, Any] = {
                "token": token,
                "expires_at": expires,
                "permissions": body.get("permissions")
                or installations.json(call.base_url, installation)["permissions"],
                "repository_selection": "selected"
                if limited or installation["repository_selection"] == "selected"
                else "all",
            }
            if limited:
                out["repositories"] = [sim.repo_json(call.base_url, repo) for repo in limited]
        return JSONResponse(for_rest(call, out), status_code=201)

    @api.route("/repos/{owner}/{repo}/installation", ["GET"])
    def get_repo_installation(call: Call) -> Response:
        require_app(call.principal)
        with state.lock:
            repo = state.repo(call.path_params["owner"], call.path_params["repo"])
            return installation_out(call, repo and state.installation_covering(repo))

    @api.route("/orgs/{org}/installation", ["GET"])
    def get_org_installation(call: Call) -> Response:
        return account_installation(call, call.path_params["org"], "Organization")

    @api.route("/users/{username}/installation", ["GET"])
    def get_user_installation(call: Call) -> Response:
        return account_installation(call, call.path_params["username"], "User")

    def account_installation(call: Call, login: str, kind: str) -> Response:
        require_app(call.principal)
        with state.lock:
            account = state.user(login)
            found = account and account["type"] == kind and state.installation_for(login)
            return installation_out(call, found or None)

    @api.route("/installation/repositories", ["GET"])
    def list_installation_repos(call: Call) -> Response:
        principal: Principal = call.principal
        require_installation(principal)
        with state.lock:
            installation = state.installation(principal.installation_id)
            repos = state.installation_repos(installation)
            selection = installation["repository_selection"]
            if principal.repositories is not None:
                repos = [r for r in repos if r["full_name"].lower() in principal.repositories]
                selection = "selected"
            return repositories_page(call, repos, selection)

    @api.route("/user/installations", ["GET"])
    def list_user_installations(call: Call) -> Response:
        require_user(call.principal)
        with state.lock:
            user = sim.actor(call)
            visible = state.installations_visible_to(user["login"])
            window, headers = page_of(call, visible)
            body = {
                "total_count": len(visible),
                "installations": [installations.json(call.base_url, i) for i in window],
            }
        return JSONResponse(body, headers=headers)

    @api.route("/user/installations/{installation_id}/repositories", ["GET"])
    def list_user_installation_repos(call: Call) -> Response:
        require_user(call.principal)
        with state.lock:
            user = sim.actor(call)
            wanted = str(call.path_params["installation_id"])
            visible = state.installations_visible_to(user["login"])
            installation = next((i for i in visible if str(i["id"]) == wanted), None)
            if installation is None:
                raise not_found()
            repos = [
                repo
                for repo in state.installation_repos(installation)
                if state.user_may_access(user["login"], repo)
            ]
            return repositories_page(call, repos, installation["repository_selection"])


def _requested_repos(body: dict[str, Any], reachable: list[dict[str, Any]]) -> list[dict]:
    """The repositories a new token is limited to (`repositories` names and
    `repository_ids`), each one the installation reaches; none means all of them."""
    names, ids = body.get("repositories") or [], body.get("repository_ids") or []
    by_name = {repo["name"].lower(): repo for repo in reachable}
    by_id = {repo["id"]: repo for repo in reachable}
    if (
        not isinstance(names, list)
        or not isinstance(ids, list)
        or any(not isinstance(n, str) or n.lower() not in by_name for n in names)
        or any(not isinstance(i, int) or i not in by_id for i in ids)
    ):
        raise unprocessable(
            "There is at least one repository that does not exist or is not "
            "accessible to the parent installation."
        )
    chosen = {by_name[n.lower()]["id"]: by_name[n.lower()] for n in names}
    chosen.update({i: by_id[i] for i in ids})
    return sorted(chosen.values(), key=lambda repo: repo["full_name"].lower())


def page_routes(sim: GitHubSimulator) -> list[Route]:
    """GitHub's install page, `/apps/{slug}/installations/new`, without the clicks.

    GitHub shows the signed-in user the accounts they may install on; here the choice
    comes in the query: their own account, or `target_id` (an organization they are a
    member of; any other account is refused), over all repositories or the
    `repository_ids[]` given. Then, like GitHub, the browser goes to the App's setup
    URL with `installation_id`, `setup_action` and the `state` the page was given; with
    no setup URL, a page says what was installed.
    """

    async def install(request: Request) -> Response:
        if request.path_params["slug"] != sim.app_slug:
            return _page(404, "Not Found")
        query = request.query_params
        try:
            target_id = int(query["target_id"]) if "target_id" in query else None
            repository_ids = [
                int(value)
                for key in ("repository_ids[]", "repository_ids")
                for value in query.getlist(key)
            ]
        except ValueError:
            return _page(404, "Not Found")
        base = str(request.base_url).rstrip("/")
        try:
            installation, action = await run_in_threadpool(
                _install_as_signed_in, sim, target_id, repository_ids, base
            )
        except ValueError as refused:
            return _page(404, f"Not Found: {refused}")
        if sim.setup_url is None:
            return _page(
                200,
                f"{sim.app_slug} is installed on {installation['account']} "
                f"(installation {installation['id']}).",
            )
        params = {"installation_id": installation["id"], "setup_action": action}
        if "state" in query:
            params["state"] = query["state"]
        separator = "&" if "?" in sim.setup_url else "?"
        return RedirectResponse(f"{sim.setup_url}{separator}{urlencode(params)}", status_code=302)

    return [Route("/apps/{slug}/installations/new", install, methods=["GET"])]


def _install_as_signed_in(
    sim: GitHubSimulator, target_id: int | None, repository_ids: list[int], base: str
) -> tuple[dict[str, Any], str]:
    with sim.state.lock:
        sim.state.ensure_user(sim.signed_in_user)
        sim.state.save()
        return sim.installations.install_from_page(
            sim.signed_in_user, target_id, repository_ids, base
        )


def _page(status: int, text: str) -> HTMLResponse:
    return HTMLResponse(f"<!DOCTYPE html><title>GitHub</title><p>{escape(text)}</p>\n", status)
