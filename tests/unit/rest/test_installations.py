"""Installations belong to workspaces: claimed through GitHub's proof of access, one
workspace each; repos connect only through a held installation that covers them."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from tests.support.api import assert_error, make_world
from vmkit.services import installations, workspaces
from vmkit.services.workspaces import GitHubIdentity


@pytest.fixture
def signed_in(app, deps, github):
    """A person signed in with GitHub; their token sees the installations given."""

    def sign_in(login: str, *, sees: tuple[int, ...] = (), github_id: int = 1) -> TestClient:
        token = f"ghu_{login}_token"
        github.visible[token] = set(sees)
        _, _, session = workspaces.login(
            deps, GitHubIdentity(id=github_id, login=login, token=token)
        )
        client = TestClient(app, raise_server_exceptions=False)
        client.cookies.set("vmkit_session", session)
        return client

    return sign_in


@pytest.fixture
def initech(github):
    github.add_installation(9, "initech")
    return 9


def test_a_signed_in_user_claims_an_installation_github_lists_for_them(signed_in, initech):
    alice = signed_in("alice", sees=(initech,))
    listed = alice.get("/api/installations/available").json()["items"]
    assert listed == [
        {
            "id": initech,
            "account_login": "initech",
            "account_type": "Organization",
            "repository_selection": "all",
            "suspended": False,
            "claimed_by_you": False,
            "claimed_elsewhere": False,
        }
    ]
    claimed = alice.post("/api/installations/claim", json={"installation_id": initech})
    assert claimed.status_code == 201 and claimed.json()["claimed_via"] == "github_user"
    assert alice.get("/api/installations/available").json()["items"][0]["claimed_by_you"]
    again = alice.post("/api/installations/claim", json={"installation_id": initech})
    assert again.status_code == 201  # claiming again is a no-op, not an error
    assert [i["id"] for i in alice.get("/api/installations").json()["items"]] == [initech]


def test_an_installation_the_user_cannot_access_is_refused(signed_in, initech):
    mallory = signed_in("mallory", sees=())
    refused = mallory.post("/api/installations/claim", json={"installation_id": initech})
    assert_error(refused, 403, "installation_not_yours")
    assert mallory.get("/api/installations").json()["items"] == []


def test_a_second_workspace_cannot_claim_a_held_installation(signed_in, initech):
    alice = signed_in("alice", sees=(initech,), github_id=1)
    bob = signed_in("bob", sees=(initech,), github_id=2)  # both are members of initech
    assert (
        alice.post("/api/installations/claim", json={"installation_id": initech}).status_code == 201
    )
    refused = bob.post("/api/installations/claim", json={"installation_id": initech})
    assert_error(refused, 409, "installation_claimed")
    assert bob.get("/api/installations/available").json()["items"][0]["claimed_elsewhere"]


def test_an_api_key_cannot_claim_without_a_github_sign_in(tenant, initech):
    refused = tenant.client.post("/api/installations/claim", json={"installation_id": initech})
    assert_error(refused, 403, "github_sign_in_required")


def test_a_repo_of_another_workspaces_installation_cannot_be_connected(tenant, other_tenant):
    refused = other_tenant.client.post("/api/repos", json={"full_name": "acme/invoicer"})
    error = assert_error(refused, 403, "installation_not_yours")
    assert "another workspace" in error["message"]
    named = other_tenant.client.post(
        "/api/repos", json={"full_name": "acme/invoicer", "installation_id": 7}
    )
    assert_error(named, 403, "installation_not_yours")
    own_installation_other_repo = other_tenant.client.post(
        "/api/repos", json={"full_name": "acme/invoicer", "installation_id": 8}
    )
    assert_error(own_installation_other_repo, 403, "repo_not_in_installation")


def test_a_repo_without_the_app_installed_gets_a_clear_4xx(tenant):
    refused = tenant.client.post("/api/repos", json={"full_name": "nobody/app"})
    error = assert_error(refused, 403, "app_not_installed")
    assert "install" in error["message"]


def test_a_repo_taken_out_of_its_installation_cannot_be_connected(tenant, github):
    github.removed.add("acme/secret-project")
    refused = tenant.client.post("/api/repos", json={"full_name": "acme/secret-project"})
    assert_error(refused, 403, "repo_not_in_installation")


def test_the_install_link_carries_a_signed_state_that_claims_on_return(
    signed_in, configure, deps, initech
):
    import boto3

    boto3.client("ssm").put_parameter(Name="/vmkit/hook", Value="s3cret", Type="SecureString")
    configure(GITHUB_WEBHOOK_SECRET_PARAMETER="/vmkit/hook", GITHUB_APP_SLUG="vmkit-test")
    alice = signed_in("alice", sees=(initech,))
    url = alice.get("/api/installations/install-url").json()["url"]
    assert url.startswith("https://github.com/apps/vmkit-test/installations/new?state=")
    state = url.split("state=", 1)[1]
    back = alice.get(
        "/api/github/setup",
        params={"installation_id": initech, "setup_action": "install", "state": state},
        follow_redirects=False,
    )
    assert back.status_code == 302 and back.headers["location"].endswith(f"={initech}")
    assert alice.get("/api/installations").json()["items"][0]["claimed_via"] == "setup_url"


def test_a_forged_or_expired_install_state_is_refused(
    signed_in, configure, deps, initech, monkeypatch
):
    import boto3

    boto3.client("ssm").put_parameter(Name="/vmkit/hook", Value="s3cret", Type="SecureString")
    configure(GITHUB_WEBHOOK_SECRET_PARAMETER="/vmkit/hook", GITHUB_APP_SLUG="vmkit-test")
    alice = signed_in("alice", sees=(initech,))
    state = alice.get("/api/installations/install-url").json()["url"].split("state=", 1)[1]
    forged = state[:-4] + ("AAAA" if not state.endswith("AAAA") else "BBBB")
    for bad in (forged, "not-a-state", state.split(".")[0]):
        response = alice.get(
            "/api/github/setup",
            params={"installation_id": initech, "state": bad},
            follow_redirects=False,
        )
        assert_error(response, 401, "bad_install_state")
    later = time.time() + installations.STATE_LIFETIME_S + 1
    monkeypatch.setattr(installations.time, "time", lambda: later)
    expired = alice.get(
        "/api/github/setup",
        params={"installation_id": initech, "state": state},
        follow_redirects=False,
    )
    assert_error(expired, 401, "bad_install_state")
    assert alice.get("/api/installations").json()["items"] == []


def test_an_install_state_made_for_another_workspace_is_refused(
    signed_in, configure, deps, initech
):
    import boto3

    boto3.client("ssm").put_parameter(Name="/vmkit/hook", Value="s3cret", Type="SecureString")
    configure(GITHUB_WEBHOOK_SECRET_PARAMETER="/vmkit/hook", GITHUB_APP_SLUG="vmkit-test")
    alice = signed_in("alice", sees=(initech,), github_id=1)
    bob = signed_in("bob", sees=(initech,), github_id=2)
    state = alice.get("/api/installations/install-url").json()["url"].split("state=", 1)[1]
    response = bob.get(
        "/api/github/setup",
        params={"installation_id": initech, "state": state},
        follow_redirects=False,
    )
    assert_error(response, 403, "install_state_mismatch")


def test_releasing_an_installation_stops_its_repos_and_reclaiming_restores_them(tenant, deps):
    world = make_world(tenant)
    assert tenant.client.delete("/api/installations/7").status_code == 204
    repo = tenant.client.get(f"/api/repos/{world.repo_id}").json()
    assert repo["access"] == "removed" and "disconnected" in repo["access_reason"]
    refused = tenant.client.post(f"/api/environments/{world.environment_id}/deploys", json={})
    error = assert_error(refused, 403, "repo_removed")
    assert "disconnected" in error["message"]
    installations.claim_as_operator(deps, tenant.workspace_id, 7)
    assert tenant.client.get(f"/api/repos/{world.repo_id}").json()["access"] == "active"


def test_a_restricted_key_cannot_manage_the_github_connection(tenant):
    world = make_world(tenant)
    key = tenant.client.post(
        "/api/keys",
        json={"name": "prod", "scopes": ["admin"], "environment_ids": [world.environment_id]},
    ).json()["key"]
    headers = tenant.headers(key)
    assert_error(
        tenant.client.delete("/api/installations/7", headers=headers),
        403,
        "environment_not_allowed",
    )
    assert_error(
        tenant.client.get("/api/installations/install-url", headers=headers),
        403,
        "environment_not_allowed",
    )
