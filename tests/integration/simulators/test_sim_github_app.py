"""GitHub simulator: the App's JWT, installations and their tokens, OAuth login, /user."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from githubkit import GitHub, OAuthWebAuthStrategy, TokenAuthStrategy
from githubkit.exception import RequestError, RequestFailed


def status_of(call) -> tuple[int, dict]:
    with pytest.raises(RequestFailed) as caught:
        call()
    response = caught.value.response
    return response.status_code, response.json()


def app_jwt(github, *, issued: datetime | None = None, key_pem: str | None = None) -> str:
    issued = issued or datetime.now(UTC) - timedelta(seconds=30)
    claims = {"iss": str(github.app_id), "iat": issued, "exp": issued + timedelta(minutes=9)}
    return jwt.encode(claims, key_pem or github.app_private_key_pem, algorithm="RS256")


def test_the_app_authenticates_with_its_jwt(app_client, github, shop):
    app = app_client.rest.apps.get_authenticated().parsed_data
    assert (app.id, app.slug, app.client_id) == (github.app_id, "vmkit-local", github.client_id)
    assert app.permissions.contents == "write"

    installation = app_client.rest.apps.get_repo_installation("acme", "shop").parsed_data
    assert installation.id == github.installation_id("acme")
    assert installation.account.login == "acme"
    listed = app_client.rest.apps.list_installations().parsed_data
    assert [item.id for item in listed] == [installation.id]


def test_an_installation_token_lasts_an_hour_and_opens_the_repos(app_client, github, shop):
    installation_id = github.installation_id("acme")

    token = app_client.rest.apps.create_installation_access_token(installation_id).parsed_data

    assert token.token.startswith("ghs_")
    remaining = datetime.fromisoformat(token.expires_at) - datetime.now(UTC)
    assert timedelta(minutes=59) < remaining <= timedelta(hours=1)
    gh = GitHub(TokenAuthStrategy(token.token), base_url=str(app_client.config.base_url))
    assert gh.rest.repos.get("acme", "shop").parsed_data.full_name == "acme/shop"
    repos = gh.rest.apps.list_repos_accessible_to_installation().parsed_data
    assert [repo.full_name for repo in repos.repositories] == ["acme/shop"]


def test_a_token_limited_to_some_repositories_sees_only_those(app_client, github, shop):
    github.create_repo("acme", "blog", {"README.md": "blog\n"})
    installation_id = github.installation_id("acme")
    token = app_client.rest.apps.create_installation_access_token(
        installation_id, repositories=["blog"]
    ).parsed_data
    gh = GitHub(TokenAuthStrategy(token.token), base_url=str(app_client.config.base_url))

    assert gh.rest.repos.get("acme", "blog").parsed_data.name == "blog"
    assert status_of(lambda: gh.rest.repos.get("acme", "shop"))[0] == 404
    unknown = status_of(
        lambda: app_client.rest.apps.create_installation_access_token(
            installation_id, repositories=["nope"]
        )
    )
    assert unknown[0] == 422


def test_installations_see_only_their_account(app_client, gh, github):
    github.create_repo("globex", "site", {"README.md": "x\n"})
    status, body = status_of(lambda: gh.rest.repos.get("globex", "site"))
    assert (status, body["message"]) == (404, "Not Found")
    assert body["status"] == "404"

    github.create_repo("initech", "tps", {"README.md": "x\n"}, install_app=False)
    status, _ = status_of(lambda: app_client.rest.apps.get_repo_installation("initech", "tps"))
    assert status == 404


def test_jwt_problems_get_githubs_401s(github, github_url, shop):
    def get_app(token: str) -> httpx.Response:
        return httpx.get(f"{github_url}/app", headers={"Authorization": f"Bearer {token}"})

    expired = get_app(app_jwt(github, issued=datetime.now(UTC) - timedelta(hours=1)))
    assert expired.status_code == 401
    assert "'Expiration time' claim ('exp')" in expired.json()["message"]

    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_pem = other_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    forged = get_app(app_jwt(github, key_pem=other_pem))
    assert forged.json() == {
        "message": "A JSON web token could not be decoded",
        "documentation_url": "https://docs.github.com/rest",
        "status": "401",
    }

    too_long = jwt.encode(
        {"iss": str(github.app_id), "iat": int(time.time()), "exp": int(time.time()) + 3600},
        github.app_private_key_pem,
        algorithm="RS256",
    )
    assert "too far in the future" in get_app(too_long).json()["message"]
    assert get_app(app_jwt(github)).status_code == 200


def test_credentials_are_checked_where_they_apply(github, app_client, gh, github_url, shop):
    anonymous = httpx.get(f"{github_url}/repos/acme/shop")
    assert anonymous.status_code == 404  # a private repo does not exist for strangers

    as_app = httpx.get(
        f"{github_url}/repos/acme/shop", headers={"Authorization": f"Bearer {app_jwt(github)}"}
    )
    assert (as_app.status_code, as_app.json()["message"]) == (
        403,
        "Resource not accessible by integration",
    )

    bad = httpx.get(f"{github_url}/repos/acme/shop", headers={"Authorization": "token ghs_nope"})
    assert (bad.status_code, bad.json()["message"]) == (401, "Bad credentials")

    token = app_client.rest.apps.create_installation_access_token(
        github.installation_id("acme")
    ).parsed_data.token
    not_a_jwt = httpx.get(f"{github_url}/app", headers={"Authorization": f"token {token}"})
    assert (not_a_jwt.status_code, not_a_jwt.json()["message"]) == (
        401,
        "A JSON web token could not be decoded",
    )
    assert status_of(lambda: gh.rest.users.get_authenticated()) == (
        403,
        {
            "message": "Resource not accessible by integration",
            "documentation_url": "https://docs.github.com/rest",
            "status": "403",
        },
    )
    assert httpx.get(f"{github_url}/user").status_code == 401


def authorize(github_url: str, github, **params) -> httpx.Response:
    query = {"client_id": github.client_id, "state": "xyz", **params}
    return httpx.get(f"{github_url}/login/oauth/authorize", params=query)


def test_oauth_web_flow_logs_the_user_in_through_githubkit(github, github_url):
    github.add_user("octocat", name="The Octocat", email="octocat@example.com")
    callback = "http://127.0.0.1:9/api/auth/github/callback"

    # The browser is sent to authorize and comes back with a code and the state,
    redirect = authorize(github_url, github, redirect_uri=callback)
    assert redirect.status_code == 302
    location = urlparse(redirect.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == callback
    query = parse_qs(location.query)
    assert query["state"] == ["xyz"]

    # which githubkit exchanges on the same host for a user token.
    user_gh = GitHub(
        OAuthWebAuthStrategy(github.client_id, github.client_secret, query["code"][0], callback),
        base_url=github_url,
    )
    me = user_gh.rest.users.get_authenticated().parsed_data
    assert (me.login, me.name, me.email) == ("octocat", "The Octocat", "octocat@example.com")


def test_oauth_codes_are_single_use_and_need_the_client_secret(github, github_url):
    redirect = authorize(github_url, github, redirect_uri="http://127.0.0.1:9/cb")
    code = parse_qs(urlparse(redirect.headers["location"]).query)["code"][0]
    exchange_url = f"{github_url}/login/oauth/access_token"

    def exchange(**body) -> dict:
        params = {"client_id": github.client_id, "client_secret": github.client_secret, **body}
        return httpx.post(exchange_url, json=params, headers={"Accept": "application/json"}).json()

    assert exchange(code=code, client_secret="wrong")["error"] == "incorrect_client_credentials"
    assert exchange(code=code)["access_token"].startswith("ghu_")
    assert exchange(code=code)["error"] == "bad_verification_code"

    form = httpx.post(
        exchange_url, data={"client_id": github.client_id, "client_secret": "x", "code": "y"}
    )
    assert parse_qs(form.text)["error"] == ["incorrect_client_credentials"]

    made_up = GitHub(
        OAuthWebAuthStrategy(github.client_id, github.client_secret, "used-or-made-up"),
        base_url=github_url,
    )
    with pytest.raises(RequestError, match="bad_verification_code"):
        made_up.rest.users.get_authenticated()


def test_oauth_authorize_refuses_unknown_clients_and_foreign_callbacks(github, github_url):
    assert authorize(github_url, github, client_id="Iv1.unknown").status_code == 404

    github.oauth_callback_url = "http://127.0.0.1:9/callback"
    mismatch = authorize(github_url, github, redirect_uri="http://evil.example/steal")
    location = urlparse(mismatch.headers["location"])
    assert location.netloc == "127.0.0.1:9"
    assert parse_qs(location.query)["error"] == ["redirect_uri_mismatch"]
