"""Workspaces are sealed from each other; scopes and revocation hold on the next call."""

from __future__ import annotations

import pytest

from tests.support.api import assert_error, make_world, seed_runtime


@pytest.fixture
def victim(tenant, deps):
    world = make_world(tenant)
    instance_id, deploy_id = seed_runtime(deps, tenant.workspace_id, world)
    key = tenant.client.post("/api/keys", json={"name": "victim key", "scopes": ["read"]}).json()[
        "id"
    ]
    return {"world": world, "instance": instance_id, "deploy": deploy_id, "key": key}


def _foreign_calls(v):
    w = v["world"]
    return [
        ("get", f"/api/compute-targets/{w.target_id}", None),
        ("patch", f"/api/compute-targets/{w.target_id}", {"name": "stolen"}),
        ("delete", f"/api/compute-targets/{w.target_id}", None),
        ("get", f"/api/repos/{w.repo_id}", None),
        ("delete", f"/api/repos/{w.repo_id}", None),
        ("get", f"/api/environments/{w.environment_id}", None),
        ("patch", f"/api/environments/{w.environment_id}", {"server_type": "cax41"}),
        (
            "patch",
            f"/api/environments/{w.environment_id}/env-vars",
            {"set": [{"name": "X", "value": "1"}]},
        ),
        ("delete", f"/api/environments/{w.environment_id}", None),
        ("get", f"/api/instances/{v['instance']}", None),
        ("get", f"/api/instances/{v['instance']}/logs?container=web", None),
        ("post", f"/api/instances/{v['instance']}/diagnose", None),
        ("post", f"/api/instances/{v['instance']}/harden", None),
        ("post", f"/api/instances/{v['instance']}/upgrade-agent", None),
        ("post", f"/api/environments/{w.environment_id}/deploys", {}),
        ("post", f"/api/environments/{w.environment_id}/reset", None),
        ("get", f"/api/environments/{w.environment_id}/plan", None),
        ("post", f"/api/deploys/{v['deploy']}/cancel", None),
        ("post", f"/api/repos/{w.repo_id}/scan", None),
        ("post", f"/api/repos/{w.repo_id}/onboard", None),
        ("get", f"/api/deploys/{v['deploy']}", None),
        ("delete", f"/api/keys/{v['key']}", None),
        ("post", f"/api/keys/{v['key']}/rotate", None),
        ("get", f"/api/environments?repo_id={w.repo_id}", None),
        ("get", f"/api/deploys?environment_id={w.environment_id}", None),
        (
            "post",
            "/api/environments",
            {"repo_id": w.repo_id, "name": "hijack", "compute_target_id": w.target_id},
        ),
        (
            "post",
            "/api/keys",
            {"name": "k", "scopes": ["read"], "environment_ids": [w.environment_id]},
        ),
    ]


def test_a_key_of_one_workspace_cannot_reach_another(tenant, other_tenant, victim):
    for method, path, body in _foreign_calls(victim):
        kwargs = {"json": body} if body is not None else {}
        resp = getattr(other_tenant.client, method)(path, **kwargs)
        assert resp.status_code in (403, 404), (method, path, resp.status_code, resp.text)
        assert_error(resp, resp.status_code)
    # and the victim's data is untouched
    env = tenant.client.get(f"/api/environments/{victim['world'].environment_id}").json()
    assert env["server_type"] == "cax11" and [v["name"] for v in env["env_vars"]] == ["MODE"]
    assert (
        tenant.client.get(f"/api/compute-targets/{victim['world'].target_id}").json()["name"]
        == "hetzner main"
    )


def test_lists_show_only_the_callers_workspace(tenant, other_tenant, victim):
    for path in [
        "/api/compute-targets",
        "/api/repos",
        "/api/environments",
        "/api/instances",
        "/api/deploys",
    ]:
        assert other_tenant.client.get(path).json()["items"] == [], path
    other_audit = other_tenant.client.get("/api/audit").json()["items"]
    assert {e["action"] for e in other_audit} == {"workspace.bootstrap", "installation.claim"}
    assert [
        i["account_login"] for i in other_tenant.client.get("/api/installations").json()["items"]
    ] == ["globex"]
    assert {k["name"] for k in other_tenant.client.get("/api/keys").json()["items"]} == {
        "bootstrap admin"
    }


def test_a_cursor_from_another_workspace_is_refused(tenant, other_tenant, victim):
    cursor = tenant.client.get("/api/audit", params={"limit": 1}).json()["next_cursor"]
    assert cursor
    assert_error(
        other_tenant.client.get("/api/audit", params={"cursor": cursor}), 404, "cursor_not_found"
    )


def test_a_read_key_cannot_change_anything(tenant, victim):
    read_key = tenant.client.post("/api/keys", json={"name": "ro", "scopes": ["read"]}).json()[
        "key"
    ]
    headers = tenant.headers(read_key)
    w = victim["world"]
    assert (
        tenant.client.get(f"/api/environments/{w.environment_id}", headers=headers).status_code
        == 200
    )
    mutations = [
        ("post", "/api/compute-targets", {"name": "x", "provider": "local"}),
        ("patch", f"/api/compute-targets/{w.target_id}", {"name": "x"}),
        ("delete", f"/api/compute-targets/{w.target_id}", None),
        ("post", "/api/repos", {"full_name": "acme/other"}),
        ("delete", f"/api/repos/{w.repo_id}", None),
        (
            "post",
            "/api/environments",
            {"repo_id": w.repo_id, "name": "staging", "compute_target_id": w.target_id},
        ),
        ("patch", f"/api/environments/{w.environment_id}", {"server_type": "cax21"}),
        (
            "patch",
            f"/api/environments/{w.environment_id}/env-vars",
            {"set": [{"name": "X", "value": "1"}]},
        ),
        ("delete", f"/api/environments/{w.environment_id}", None),
        ("post", f"/api/environments/{w.environment_id}/deploys", {}),
        ("post", f"/api/environments/{w.environment_id}/reset", None),
        ("post", f"/api/deploys/{victim['deploy']}/cancel", None),
        ("post", f"/api/repos/{w.repo_id}/scan", None),
        ("post", f"/api/instances/{victim['instance']}/harden", None),
        ("post", f"/api/instances/{victim['instance']}/upgrade-agent", None),
        ("post", "/api/keys", {"name": "escalate", "scopes": ["admin"]}),
        ("delete", f"/api/keys/{victim['key']}", None),
    ]
    for method, path, body in mutations:
        kwargs = {"json": body} if body is not None else {}
        resp = getattr(tenant.client, method)(path, headers=headers, **kwargs)
        assert_error(resp, 403, "insufficient_scope")


def test_a_deploy_key_may_set_env_vars_but_not_manage_keys(tenant, victim):
    key = tenant.client.post("/api/keys", json={"name": "ci", "scopes": ["deploy"]}).json()["key"]
    w = victim["world"]
    resp = tenant.client.patch(
        f"/api/environments/{w.environment_id}/env-vars",
        json={"set": [{"name": "X", "value": "1"}]},
        headers=tenant.headers(key),
    )
    assert resp.status_code == 200
    assert_error(
        tenant.client.post(
            "/api/keys", json={"name": "k", "scopes": ["read"]}, headers=tenant.headers(key)
        ),
        403,
    )


def test_a_revoked_key_fails_on_its_next_call(tenant):
    created = tenant.client.post("/api/keys", json={"name": "temp", "scopes": ["admin"]}).json()
    headers = tenant.headers(created["key"])
    assert tenant.client.get("/api/repos", headers=headers).status_code == 200
    tenant.client.delete(f"/api/keys/{created['id']}")
    assert_error(tenant.client.get("/api/repos", headers=headers), 401, "unauthenticated")


def test_an_environment_restricted_key_sees_only_its_environments(tenant, deps, victim):
    w = victim["world"]
    other_env = tenant.client.post(
        "/api/environments",
        json={"repo_id": w.repo_id, "name": "staging", "compute_target_id": w.target_id},
    ).json()["id"]
    key = tenant.client.post(
        "/api/keys",
        json={"name": "prod only", "scopes": ["deploy"], "environment_ids": [w.environment_id]},
    ).json()["key"]
    headers = tenant.headers(key)
    assert (
        tenant.client.get(f"/api/environments/{w.environment_id}", headers=headers).status_code
        == 200
    )
    assert_error(
        tenant.client.get(f"/api/environments/{other_env}", headers=headers),
        403,
        "environment_not_allowed",
    )
    listed = tenant.client.get("/api/environments", headers=headers).json()["items"]
    assert [e["id"] for e in listed] == [w.environment_id]
    assert tenant.client.get("/api/auth/me", headers=headers).json()["environment_ids"] == [
        w.environment_id
    ]
