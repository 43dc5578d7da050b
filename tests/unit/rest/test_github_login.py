"""GitHub sign-in: state check, code exchange through githubkit, first-login workspace."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import boto3
import httpx
import pytest
import respx
from fastapi.testclient import TestClient

from tests.support.api import assert_error

GITHUB_USER = {
    "login": "octocat",
    "id": 583231,
    "node_id": "MDQ6VXNlcjU4MzIzMQ==",
    "avatar_url": "https://avatars.githubusercontent.com/u/583231?v=4",
    "gravatar_id": "",
    "url": "https://api.github.com/users/octocat",
    "html_url": "https://github.com/octocat",
    "followers_url": "https://api.github.com/users/octocat/followers",
    "following_url": "https://api.github.com/users/octocat/following{/other_user}",
    "gists_url": "https://api.github.com/users/octocat/gists{/gist_id}",
    "starred_url": "https://api.github.com/users/octocat/starred{/owner}{/repo}",
    "subscriptions_url": "https://api.github.com/users/octocat/subscriptions",
    "organizations_url": "https://api.github.com/users/octocat/orgs",
    "repos_url": "https://api.github.com/users/octocat/repos",
    "events_url": "https://api.github.com/users/octocat/events{/privacy}",
    "received_events_url": "https://api.github.com/users/octocat/received_events",
    "type": "User",
    "user_view_type": "public",
    "site_admin": False,
    "name": "The Octocat",
    "company": "@github",
    "blog": "https://github.blog",
    "location": "San Francisco",
    "email": None,
    "hireable": None,
    "bio": None,
    "twitter_username": None,
    "public_repos": 8,
    "public_gists": 8,
    "followers": 1,
    "following": 9,
    "created_at": "2011-01-25T18:44:36Z",
    "updated_at": "2024-01-22T12:00:00Z",
}


@pytest.fixture
def browser(app, configure):
    boto3.client("ssm").put_parameter(
        Name="/vmkit/github-oauth",
        Value=json.dumps({"client_id": "Iv1.abc", "client_secret": "shh-oauth"}),
        Type="SecureString",
    )
    configure(GITHUB_OAUTH_PARAMETER="/vmkit/github-oauth", PUBLIC_URL="https://api.vmkit.test")
    return TestClient(
        app,
        base_url="https://api.vmkit.test",
        follow_redirects=False,
        raise_server_exceptions=False,
    )


@pytest.fixture
def github():
    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="api.vmkit.test").pass_through()
        mock.route(host="testserver").pass_through()
        exchange = mock.post("https://github.com/login/oauth/access_token").mock(
            return_value=httpx.Response(
                200, json={"access_token": "ghu_userToken123", "token_type": "bearer", "scope": ""}
            )
        )
        mock.get("https://api.github.com/user").mock(
            return_value=httpx.Response(200, json=GITHUB_USER)
        )
        yield exchange


def _start_login(browser: TestClient) -> str:
    resp = browser.get("/api/auth/login")
    assert resp.status_code == 302
    target = urlparse(resp.headers["location"])
    assert (
        f"{target.scheme}://{target.netloc}{target.path}"
        == "https://github.com/login/oauth/authorize"
    )
    query = parse_qs(target.query)
    assert query["client_id"] == ["Iv1.abc"]
    assert query["redirect_uri"] == ["https://api.vmkit.test/api/auth/callback"]
    assert browser.cookies.get("vmkit_oauth_state") == query["state"][0]
    return query["state"][0]


def test_first_login_creates_user_workspace_and_session(browser, github):
    state = _start_login(browser)
    resp = browser.get("/api/auth/callback", params={"code": "one-time", "state": state})
    assert resp.status_code == 302 and resp.headers["location"] == "/"
    assert "HttpOnly" in resp.headers["set-cookie"] and "Secure" in resp.headers["set-cookie"]
    exchanged = json.loads(github.calls.last.request.content)
    assert exchanged["code"] == "one-time" and exchanged["client_secret"] == "shh-oauth"
    me = browser.get("/api/auth/me").json()
    assert me["role"] == "owner" and me["scope"] == "admin" and me["key_id"] is None
    # signing in again lands in the same workspace
    state = _start_login(browser)
    browser.get("/api/auth/callback", params={"code": "again", "state": state})
    assert browser.get("/api/auth/me").json()["workspace_id"] == me["workspace_id"]
    # the session can act: the audit log shows who created the workspace
    events = browser.get("/api/audit").json()["items"]
    assert [e["action"] for e in events] == ["workspace.create"] and events[0]["actor"] == me[
        "actor"
    ]


def test_logout_ends_the_session(browser, github):
    state = _start_login(browser)
    browser.get("/api/auth/callback", params={"code": "c", "state": state})
    session = browser.cookies.get("vmkit_session")
    assert browser.post("/api/auth/logout").status_code == 204
    browser.cookies.set("vmkit_session", session)
    assert_error(browser.get("/api/auth/me"), 401, "unauthenticated")
    assert browser.post("/api/auth/logout").status_code == 204  # again: still fine


def test_state_mismatch_or_missing_is_refused(browser, github):
    _start_login(browser)
    assert_error(
        browser.get("/api/auth/callback", params={"code": "c", "state": "forged"}),
        401,
        "state_mismatch",
    )
    browser.cookies.clear()
    assert_error(
        browser.get("/api/auth/callback", params={"code": "c", "state": "x"}), 401, "state_mismatch"
    )
    assert not github.called
    assert_error(browser.get("/api/auth/callback", params={"state": "x"}), 422)


def test_a_code_github_refuses_is_a_clear_401(browser, github):
    github.mock(
        return_value=httpx.Response(
            200,
            json={
                "error": "bad_verification_code",
                "error_description": "The code passed is incorrect",
            },
        )
    )
    state = _start_login(browser)
    error = assert_error(
        browser.get("/api/auth/callback", params={"code": "stale", "state": state}), 401
    )
    assert "start the login again" in error["message"]


def test_login_without_oauth_configured_says_so(app):
    client = TestClient(app, follow_redirects=False, raise_server_exceptions=False)
    assert_error(client.get("/api/auth/login"), 503, "not_configured")
