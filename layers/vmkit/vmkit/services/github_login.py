"""Sign-in with GitHub (the App's OAuth web flow) for the REST API and dashboard."""

from __future__ import annotations

from urllib.parse import urlencode

from vmkit.deps import Deps
from vmkit.errors import Unauthenticated
from vmkit.secrets import get_secret_json
from vmkit.services.workspaces import GitHubIdentity

OAUTH_WHAT = "GitHub sign-in (OAuth client id and secret)"


def _client(deps: Deps) -> dict[str, str]:
    data = get_secret_json(deps.settings.github_oauth_parameter, OAUTH_WHAT)
    return {
        "client_id": str(data.get("client_id", "")),
        "client_secret": str(data.get("client_secret", "")),
    }


def callback_url(deps: Deps, request_base_url: str) -> str:
    """Where GitHub sends the user back: the configured public URL, else the one called."""
    base = deps.settings.public_url or request_base_url
    return f"{base.rstrip('/')}/api/auth/callback"


def authorize_url(deps: Deps, state: str, request_base_url: str) -> str:
    redirect = callback_url(deps, request_base_url)
    query = urlencode(
        {"client_id": _client(deps)["client_id"], "redirect_uri": redirect, "state": state}
    )
    return f"{deps.settings.github_web_url.rstrip('/')}/login/oauth/authorize?{query}"


def identity_from_code(deps: Deps, code: str, request_base_url: str) -> GitHubIdentity:
    """Exchange the one-time code for a user token and read who the user is."""
    from githubkit import GitHub, OAuthWebAuthStrategy
    from githubkit.exception import GitHubException

    client = _client(deps)
    strategy = OAuthWebAuthStrategy(
        client["client_id"], client["client_secret"], code, callback_url(deps, request_base_url)
    )
    try:
        with GitHub(strategy, base_url=deps.settings.github_api_url) as github:
            user = github.rest.users.get_authenticated().parsed_data
            token = strategy.token  # exchanged for the code by the call above
    except GitHubException as exc:
        raise Unauthenticated(
            "GitHub did not accept the sign-in code; start the login again"
        ) from exc
    return GitHubIdentity(
        id=user.id,
        login=user.login,
        name=getattr(user, "name", None),
        email=getattr(user, "email", None),
        token=token,
    )
