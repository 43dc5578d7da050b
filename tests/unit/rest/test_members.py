"""Members: invite by GitHub login, change role, remove; roles enforced on every call."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support.api import assert_error
from tests.unit.mcp.mcp_support import call, error, mcp_url, ok  # noqa: F401 (a fixture)
from vmkit.services import workspaces
from vmkit.services.workspaces import GitHubIdentity


def _person(app, deps, github_id: int, login: str) -> TestClient:
    """A browser signed in as this GitHub user (the OAuth exchange is tested elsewhere)."""
    _, _, token = workspaces.login(deps, GitHubIdentity(id=github_id, login=login))
    client = TestClient(app, raise_server_exceptions=False)
    client.cookies.set("vmkit_session", token)
    return client


@pytest.fixture
def owner(app, deps) -> TestClient:
    return _person(app, deps, 1, "olivia")


def _invite(client: TestClient, login: str, role: str) -> dict:
    resp = client.post("/api/members", json={"login": login, "role": role})
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_an_invited_login_joins_with_its_role_at_sign_in(app, deps, owner):
    # Given an owner who invites a GitHub login as deployer
    invited = _invite(owner, "Dev-Dana", "deployer")
    assert invited["pending"] is True and invited["user_id"] is None
    # When that person signs in for the first time
    dana = _person(app, deps, 2, "dev-dana")
    # Then they are in the owner's workspace with the deployer's rights, not a new one
    me = dana.get("/api/auth/me").json()
    assert me["workspace_id"] == owner.get("/api/auth/me").json()["workspace_id"]
    assert me["role"] == "deployer" and me["scope"] == "deploy"
    listed = {m["login"]: m for m in owner.get("/api/members").json()["items"]}
    assert listed["dev-dana"]["pending"] is False and listed["dev-dana"]["user_id"]
    assert "Dev-Dana" not in listed  # the invitation became the membership
    assert_error(dana.post("/api/keys", json={"name": "k", "scopes": ["read"]}), 403)
    actions = [e["action"] for e in owner.get("/api/audit").json()["items"]]
    assert "member.invite" in actions and "member.join" in actions


def test_role_changes_and_removal_apply_to_the_next_call(app, deps, owner):
    _invite(owner, "vic", "viewer")
    vic = _person(app, deps, 3, "vic")
    assert_error(vic.post("/api/members", json={"login": "x", "role": "viewer"}), 403)
    resp = owner.patch("/api/members/vic", json={"role": "admin"})
    assert resp.status_code == 200 and resp.json()["role"] == "admin"
    assert vic.get("/api/auth/me").json()["scope"] == "admin"
    assert vic.post("/api/members", json={"login": "eve", "role": "viewer"}).status_code == 201
    assert owner.delete("/api/members/vic").status_code == 200
    assert_error(vic.get("/api/auth/me"), 401, "not_a_member")


def test_the_last_owner_cannot_be_removed_or_demoted(app, deps, owner):
    assert_error(owner.delete("/api/members/olivia"), 409, "last_owner")
    assert_error(owner.patch("/api/members/olivia", json={"role": "admin"}), 409, "last_owner")
    _invite(owner, "otto", "owner")
    # an invitation is not an owner yet: the last real owner still cannot leave
    assert_error(owner.delete("/api/members/olivia"), 409, "last_owner")
    otto = _person(app, deps, 4, "otto")
    assert otto.delete("/api/members/olivia").status_code == 200
    assert_error(otto.delete("/api/members/otto"), 409, "last_owner")


def test_only_owners_touch_the_owner_role(app, deps, owner):
    _invite(owner, "ada", "admin")
    ada = _person(app, deps, 5, "ada")
    assert_error(
        ada.post("/api/members", json={"login": "x", "role": "owner"}), 403, "owner_required"
    )
    assert_error(ada.patch("/api/members/ada", json={"role": "owner"}), 403, "owner_required")
    assert_error(ada.delete("/api/members/olivia"), 403, "owner_required")
    # a key an admin made has no more than the admin: no owner rights either
    key = ada.post("/api/keys", json={"name": "ada's", "scopes": ["admin"]}).json()["key"]
    by_key = {"Authorization": f"Bearer {key}"}
    resp = ada.post("/api/members", json={"login": "x", "role": "owner"}, headers=by_key)
    assert_error(resp, 403, "owner_required")
    # an owner's key carries owner rights
    okey = owner.post("/api/keys", json={"name": "o", "scopes": ["admin"]}).json()["key"]
    resp = ada.post(
        "/api/members",
        json={"login": "x", "role": "owner"},
        headers={"Authorization": f"Bearer {okey}"},
    )
    assert resp.status_code == 201, resp.text


def test_bad_member_input_gets_clear_errors(owner, tenant):
    assert_error(owner.post("/api/members", json={"login": "-bad-", "role": "viewer"}), 422)
    assert_error(owner.post("/api/members", json={"login": "ok", "role": "god"}), 422)
    _invite(owner, "dup", "viewer")
    assert_error(
        owner.post("/api/members", json={"login": "DUP", "role": "admin"}), 409, "already_member"
    )
    assert_error(
        owner.patch("/api/members/nobody", json={"role": "admin"}), 404, "member_not_found"
    )
    # another workspace sees none of these members
    assert "dup" not in [m["login"] for m in tenant.client.get("/api/members").json()["items"]]
    assert_error(tenant.client.delete("/api/members/dup"), 404, "member_not_found")


def test_a_restricted_or_low_scope_key_cannot_manage_members(tenant):
    env_key = tenant.client.post("/api/keys", json={"name": "read", "scopes": ["deploy"]}).json()[
        "key"
    ]
    resp = tenant.client.post(
        "/api/members", json={"login": "x", "role": "viewer"}, headers=tenant.headers(env_key)
    )
    assert_error(resp, 403, "insufficient_scope")
    # the operator's bootstrap key may seat the first owner of a workspace
    assert (
        tenant.client.post("/api/members", json={"login": "boss", "role": "owner"}).status_code
        == 201
    )


def test_members_through_mcp(mcp_url, tenant):  # noqa: F811
    invited = ok(call(mcp_url, tenant.key, "invite_member", {"login": "mia", "role": "deployer"}))
    assert invited["pending"] is True
    changed = call(mcp_url, tenant.key, "set_member_role", {"login": "mia", "role": "viewer"})
    assert ok(changed)["role"] == "viewer"
    listed = ok(call(mcp_url, tenant.key, "list_members"))
    assert [m["login"] for m in listed["items"]] == ["mia"]
    ok(call(mcp_url, tenant.key, "remove_member", {"login": "mia"}))
    err = error(call(mcp_url, tenant.key, "remove_member", {"login": "mia"}), "member_not_found")
    assert "invite them first" in err["message"]
