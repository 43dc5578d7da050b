"""Every route's happy path, and bad input getting a 4xx in the error shape, never a 500."""

from __future__ import annotations

import pytest

from tests.support.api import assert_error, make_world, seed_runtime
from vmkit.ids import new_id


@pytest.fixture
def world(tenant):
    return make_world(tenant)


def test_compute_target_lifecycle(tenant):
    c = tenant.client
    created = c.post(
        "/api/compute-targets", json={"name": "hz", "provider": "hetzner", "token": "abcdefgh1234"}
    )
    assert created.status_code == 201
    target = created.json()
    assert target["token_hint"] == "…1234"
    assert target["deploy_public_key"].startswith("ssh-ed25519 ")
    assert "token" not in target
    assert c.get(f"/api/compute-targets/{target['id']}").json()["name"] == "hz"
    patched = c.patch(
        f"/api/compute-targets/{target['id']}", json={"name": "renamed", "token": "newtoken9876"}
    )
    assert patched.json()["name"] == "renamed" and patched.json()["token_hint"] == "…9876"
    assert [t["id"] for t in c.get("/api/compute-targets").json()["items"]] == [target["id"]]
    assert c.delete(f"/api/compute-targets/{target['id']}").status_code == 204
    assert_error(c.get(f"/api/compute-targets/{target['id']}"), 404, "not_found")


def test_local_target_needs_no_token_but_hetzner_does(tenant):
    assert (
        tenant.client.post(
            "/api/compute-targets", json={"name": "l", "provider": "local"}
        ).status_code
        == 201
    )
    error = assert_error(
        tenant.client.post("/api/compute-targets", json={"name": "h", "provider": "hetzner"}), 422
    )
    assert "token" in str(error["details"])


def test_a_local_target_may_choose_real_vms_and_only_a_local_one(tenant):
    created = tenant.client.post(
        "/api/compute-targets", json={"name": "q", "provider": "local", "local_machine": "vm"}
    )
    assert created.status_code == 201 and created.json()["local_machine"] == "vm"
    refused = tenant.client.post(
        "/api/compute-targets",
        json={"name": "h", "provider": "hetzner", "token": "abcdefgh1234", "local_machine": "vm"},
    )
    assert "local compute targets only" in str(assert_error(refused, 422)["details"])
    unknown = tenant.client.post(
        "/api/compute-targets", json={"name": "x", "provider": "local", "local_machine": "kvm"}
    )
    assert_error(unknown, 422)
    assert [t["name"] for t in tenant.client.get("/api/compute-targets").json()["items"]] == ["q"]


def test_target_in_use_cannot_be_deleted(tenant, world):
    error = assert_error(
        tenant.client.delete(f"/api/compute-targets/{world.target_id}"), 409, "in_use"
    )
    assert "production" in error["message"]


def test_repo_lifecycle(tenant):
    c = tenant.client
    repo = c.post("/api/repos", json={"full_name": "acme/Invoicer.App"}).json()
    assert repo["slug"] == "invoicer-app" and repo["full_name"] == "acme/Invoicer.App"
    assert_error(
        c.post("/api/repos", json={"full_name": "acme/invoicer.app"}), 409, "already_exists"
    )
    assert c.get(f"/api/repos/{repo['id']}").json()["onboarding"] == "not_started"
    assert len(c.get("/api/repos").json()["items"]) == 1
    assert c.delete(f"/api/repos/{repo['id']}").status_code == 204
    # disconnecting frees the name for a later connect
    assert c.post("/api/repos", json={"full_name": "acme/Invoicer.App"}).status_code == 201


def test_environment_lifecycle(tenant, world):
    c = tenant.client
    env = c.get(f"/api/environments/{world.environment_id}").json()
    assert env["hostname"] == "invoicer-production.apps.example.test"
    assert env["url"] == "https://invoicer-production.apps.example.test"
    assert env["server_type"] == "cax11" and env["region"] == "fsn1"
    assert [
        e["id"]
        for e in c.get("/api/environments", params={"repo_id": world.repo_id}).json()["items"]
    ] == [world.environment_id]
    updated = c.patch(f"/api/environments/{world.environment_id}", json={"server_type": "cax21"})
    assert updated.json()["server_type"] == "cax21"
    with_vars = c.patch(
        f"/api/environments/{world.environment_id}/env-vars",
        json={
            "set": [{"name": "API_TOKEN", "value": "s3cret-value", "secret": True}],
            "unset": ["MODE"],
        },
    ).json()
    assert with_vars["env_vars"] == [{"name": "API_TOKEN", "secret": True, "value": "********"}]
    teardown = c.delete(f"/api/environments/{world.environment_id}")
    assert teardown.status_code == 202
    assert teardown.json()["action"] == "teardown" and teardown.json()["status"] == "queued"
    # the environment stays (busy) until the teardown has run
    busy = assert_error(
        c.post(f"/api/environments/{world.environment_id}/deploys"), 409, "deploy_in_progress"
    )
    assert busy["details"]["active_deploy_id"] == teardown.json()["id"]


def test_deploys_start_one_at_a_time_and_cancel(tenant, world):
    c = tenant.client
    started = c.post(f"/api/environments/{world.environment_id}/deploys", json={"ref": "main"})
    assert started.status_code == 202
    deploy = started.json()
    assert deploy["status"] == "queued" and deploy["action"] == "deploy" and deploy["ref"] == "main"
    assert_error(
        c.post(f"/api/environments/{world.environment_id}/deploys"), 409, "deploy_in_progress"
    )
    cancelled = c.post(f"/api/deploys/{deploy['id']}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    assert "cancelled by key:" in cancelled.json()["failure"]["reason"]
    assert_error(c.post(f"/api/deploys/{deploy['id']}/cancel"), 409, "deploy_ended")
    # the environment is free again
    assert c.post(f"/api/environments/{world.environment_id}/deploys").status_code == 202


def test_plan_says_what_a_deploy_would_do_and_cost(tenant, world):
    plan = tenant.client.get(f"/api/environments/{world.environment_id}/plan").json()
    assert plan["monthly_cost_usd"] == 4.5 and plan["blocked_by"] is None
    actions = {change["resource"]: change["action"] for change in plan["changes"]}
    assert actions["VM"] == "create" and actions["onboarding pull request"] == "create"
    assert plan["url"] == "https://invoicer-production.apps.example.test"
    # and nothing was created
    assert tenant.client.get("/api/deploys").json()["items"] == []


def test_duplicate_environment_name_is_a_conflict(tenant, world):
    resp = tenant.client.post(
        "/api/environments",
        json={"repo_id": world.repo_id, "name": "production", "compute_target_id": world.target_id},
    )
    assert_error(resp, 409, "already_exists")


def test_same_hostname_in_two_workspaces_gets_a_suffix(tenant, other_tenant):
    first = make_world(tenant)
    second = make_world(other_tenant)
    h1 = tenant.client.get(f"/api/environments/{first.environment_id}").json()["hostname"]
    h2 = other_tenant.client.get(f"/api/environments/{second.environment_id}").json()["hostname"]
    assert h1 == "invoicer-production.apps.example.test"
    assert h2 != h1 and h2.startswith("invoicer-production-") and h2.endswith(".apps.example.test")


def test_bad_server_type_and_region_name_the_choices(tenant, world):
    resp = tenant.client.post(
        "/api/environments",
        json={
            "repo_id": world.repo_id,
            "name": "staging",
            "compute_target_id": world.target_id,
            "server_type": "cx99",
        },
    )
    assert assert_error(resp, 422, "invalid_input")["details"][0]["loc"] == ["body", "server_type"]
    resp = tenant.client.post(
        "/api/environments",
        json={
            "repo_id": world.repo_id,
            "name": "staging",
            "compute_target_id": world.target_id,
            "server_type": "s-2vcpu-4gb",  # DigitalOcean's, on a Hetzner target
        },
    )
    assert "cax11" in assert_error(resp, 409, "invalid_server_type")["message"]
    resp = tenant.client.post(
        "/api/environments",
        json={
            "repo_id": world.repo_id,
            "name": "staging",
            "compute_target_id": world.target_id,
            "region": "mars1",
        },
    )
    assert assert_error(resp, 422, "invalid_input")["details"][0]["loc"] == ["body", "region"]
    resp = tenant.client.post(
        "/api/environments",
        json={
            "repo_id": world.repo_id,
            "name": "staging",
            "compute_target_id": world.target_id,
            "region": "nyc3",  # DigitalOcean's
        },
    )
    assert "fsn1" in assert_error(resp, 409, "invalid_region")["message"]


def test_instances_and_deploys(tenant, deps, world):
    instance_id, deploy_id = seed_runtime(deps, tenant.workspace_id, world)
    c = tenant.client
    instance = c.get(f"/api/instances/{instance_id}").json()
    assert instance["agent_connected"] is False and instance["metrics_stale"] is True
    assert "agent_verifier" not in instance and "agent_token_id" not in instance
    assert [i["id"] for i in c.get("/api/instances").json()["items"]] == [instance_id]
    assert c.get(f"/api/deploys/{deploy_id}").json()["status"] == "queued"
    assert [
        d["id"]
        for d in c.get("/api/deploys", params={"environment_id": world.environment_id}).json()[
            "items"
        ]
    ] == [deploy_id]
    assert [d["id"] for d in c.get("/api/deploys").json()["items"]] == [deploy_id]


def test_agent_operations_need_a_connected_agent_and_valid_input(tenant, deps, world):
    instance_id, _ = seed_runtime(deps, tenant.workspace_id, world)
    c = tenant.client
    for method, path in [
        ("get", "logs?container=web"),
        ("post", "metrics"),
        ("post", "diagnose"),
        ("post", "harden"),
    ]:
        error = assert_error(
            getattr(c, method)(f"/api/instances/{instance_id}/{path}"), 409, "agent_unavailable"
        )
        assert "not connected" in error["message"]
    assert_error(c.get(f"/api/instances/{instance_id}/logs"), 422)  # container is required
    assert_error(
        c.get(f"/api/instances/{instance_id}/logs", params={"container": "web", "lines": 5001}), 422
    )
    assert_error(c.get(f"/api/instances/{instance_id}/logs", params={"container": "../etc"}), 422)


def test_keys_lifecycle(tenant):
    c = tenant.client
    created = c.post("/api/keys", json={"name": "ci", "scopes": ["deploy"]})
    assert created.status_code == 201
    body = created.json()
    assert body["key"].startswith(f"vmk_{body['id']}_") and body["hint"] == f"vmk_{body['id']}_…"
    listed = c.get("/api/keys").json()["items"]
    assert {k["name"] for k in listed} == {"bootstrap admin", "ci"}
    assert all("key" not in k and "verifier" not in k for k in listed)
    rotated = c.post(f"/api/keys/{body['id']}/rotate").json()
    assert rotated["id"] != body["id"] and rotated["scopes"] == ["deploy"]
    assert_error(
        c.get("/api/auth/me", headers={"Authorization": f"Bearer {body['key']}"}),
        401,
        "unauthenticated",
    )
    assert (
        c.get("/api/auth/me", headers={"Authorization": f"Bearer {rotated['key']}"}).json()["scope"]
        == "deploy"
    )
    assert c.delete(f"/api/keys/{rotated['id']}").json()["revoked_at"] is not None
    assert_error(c.post(f"/api/keys/{rotated['id']}/rotate"), 409, "key_revoked")


def test_audit_records_every_change_with_actor_and_interface(tenant, world):
    tenant.client.patch(
        f"/api/environments/{world.environment_id}/env-vars",
        json={"set": [{"name": "X", "value": "1"}]},
        headers={"X-VMKit-Interface": "cli"},
    )
    events = tenant.client.get("/api/audit").json()["items"]
    actions = [e["action"] for e in events]
    assert actions[:4] == [
        "environment.set_env_vars",
        "environment.create",
        "repo.connect",
        "compute_target.create",
    ]
    latest = events[0]
    assert (
        latest["interface"] == "cli"
        and latest["key_id"]
        and latest["actor"] == f"key:{latest['key_id']}"
    )
    assert latest["target_id"] == world.environment_id


def test_audit_pages_with_a_cursor(tenant, world):
    first = tenant.client.get("/api/audit", params={"limit": 2}).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = tenant.client.get(
        "/api/audit", params={"limit": 2, "cursor": first["next_cursor"]}
    ).json()
    assert not {e["id"] for e in first["items"]} & {e["id"] for e in second["items"]}


def test_health_and_openapi(tenant):
    assert tenant.client.get("/health").json() == {"status": "ok"}
    spec = tenant.client.get("/openapi.json").json()
    assert "/api/environments/{environment_id}" in spec["paths"]
    operation_ids = {op["operationId"] for path in spec["paths"].values() for op in path.values()}
    assert {
        "list_environments",
        "create_api_key",
        "get_deploy",
        "list_audit_events",
    } <= operation_ids


# --- bad input ----------------------------------------------------------------------


ID_ROUTES = [
    ("get", "/api/compute-targets/{}", "compute_target"),
    ("patch", "/api/compute-targets/{}", "compute_target"),
    ("delete", "/api/compute-targets/{}", "compute_target"),
    ("get", "/api/repos/{}", "repo"),
    ("delete", "/api/repos/{}", "repo"),
    ("get", "/api/environments/{}", "environment"),
    ("patch", "/api/environments/{}", "environment"),
    ("patch", "/api/environments/{}/env-vars", "environment"),
    ("delete", "/api/environments/{}", "environment"),
    ("post", "/api/environments/{}/deploys", "environment"),
    ("post", "/api/environments/{}/reset", "environment"),
    ("get", "/api/environments/{}/plan", "environment"),
    ("post", "/api/deploys/{}/cancel", "deploy"),
    ("post", "/api/repos/{}/scan", "repo"),
    ("post", "/api/repos/{}/onboard", "repo"),
    ("get", "/api/instances/{}", "instance"),
    ("get", "/api/instances/{}/logs?container=web", "instance"),
    ("post", "/api/instances/{}/metrics", "instance"),
    ("post", "/api/instances/{}/diagnose", "instance"),
    ("post", "/api/instances/{}/harden", "instance"),
    ("post", "/api/instances/{}/upgrade-agent", "instance"),
    ("get", "/api/deploys/{}", "deploy"),
]


@pytest.mark.parametrize(("method", "path", "kind"), ID_ROUTES)
def test_malformed_ids_are_422_and_unknown_ids_404(tenant, method, path, kind):
    c = tenant.client
    kwargs = {"json": {}} if method == "patch" else {}
    assert_error(getattr(c, method)(path.format("not-an-id"), **kwargs), 422, "invalid_input")
    assert_error(
        getattr(c, method)(
            path.format(
                "env_01M851N39VGF815H0AB5C8RJXB"
                if kind != "environment"
                else "repo_01M851N38WDTWYYF1413HTAK2K"
            ),
            **kwargs,
        ),
        422,
    )
    assert_error(getattr(c, method)(path.format(new_id(kind)), **kwargs), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"), [("delete", "/api/keys/{}"), ("post", "/api/keys/{}/rotate")]
)
def test_bad_key_ids(tenant, method, path):
    assert_error(getattr(tenant.client, method)(path.format("xyz")), 422)
    assert_error(getattr(tenant.client, method)(path.format("0123456789abcdef")), 404)


CREATE_BAD_BODIES = [
    ("/api/compute-targets", {}),
    ("/api/compute-targets", {"name": "x", "provider": "aws", "token": "abcdefgh"}),
    ("/api/compute-targets", {"name": 5, "provider": "hetzner", "token": "abcdefgh"}),
    ("/api/compute-targets", {"name": "x", "provider": "hetzner", "token": "abcdefgh", "extra": 1}),
    ("/api/compute-targets", {"name": "", "provider": "local"}),
    ("/api/repos", {}),
    ("/api/repos", {"full_name": "no-slash"}),
    ("/api/repos", {"full_name": "a/b", "installation_id": "many"}),
    ("/api/environments", {}),
    ("/api/environments", {"repo_id": "x", "name": "production", "compute_target_id": "y"}),
    (
        "/api/environments",
        {
            "repo_id": new_id("repo"),
            "name": "Prod Env",
            "compute_target_id": new_id("compute_target"),
        },
    ),
    ("/api/keys", {}),
    ("/api/keys", {"name": "k", "scopes": []}),
    ("/api/keys", {"name": "k", "scopes": ["root"]}),
    ("/api/keys", {"name": "k", "scopes": "admin"}),
]


@pytest.mark.parametrize(("path", "body"), CREATE_BAD_BODIES)
def test_bad_create_bodies_are_422(tenant, path, body):
    assert_error(tenant.client.post(path, json=body), 422, "invalid_input")


def test_env_var_names_and_duplicates(tenant, world):
    url = f"/api/environments/{world.environment_id}/env-vars"
    assert_error(tenant.client.patch(url, json={"set": [{"name": "lower", "value": "x"}]}), 422)
    assert_error(
        tenant.client.patch(
            url, json={"set": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]}
        ),
        409,
        "duplicate_env_var",
    )
    assert_error(
        tenant.client.patch(url, json={"set": [{"name": "A", "value": "1"}], "unset": ["A"]}), 409
    )


def test_unknown_references_in_bodies_are_404(tenant, world):
    resp = tenant.client.post(
        "/api/environments",
        json={"repo_id": new_id("repo"), "name": "staging", "compute_target_id": world.target_id},
    )
    assert "repo" in assert_error(resp, 404)["message"]
    resp = tenant.client.post(
        "/api/keys",
        json={"name": "k", "scopes": ["read"], "environment_ids": [new_id("environment")]},
    )
    assert_error(resp, 404)


def test_not_json_and_oversize_bodies(tenant):
    c = tenant.client
    assert_error(
        c.post("/api/repos", content=b"{not json", headers={"Content-Type": "application/json"}),
        422,
    )
    big = {"full_name": "a/b", "default_branch": "x" * 1_100_000}
    assert_error(c.post("/api/repos", json=big), 413, "payload_too_large")

    def chunks():
        yield b'{"full_name": "a/b", "default_branch": "'
        for _ in range(1100):
            yield b"x" * 1000
        yield b'"}'

    assert_error(
        c.post("/api/repos", content=chunks(), headers={"Content-Type": "application/json"}), 413
    )


def test_bad_query_parameters(tenant):
    assert_error(tenant.client.get("/api/audit", params={"limit": 0}), 422)
    assert_error(tenant.client.get("/api/audit", params={"limit": "ten"}), 422)
    assert_error(
        tenant.client.get("/api/audit", params={"cursor": "garbage!"}), 404, "cursor_not_found"
    )
    assert_error(tenant.client.get("/api/environments", params={"repo_id": "nope"}), 422)


def test_unknown_route_and_method(tenant):
    assert_error(tenant.client.get("/api/nothing-here"), 404, "not_found")
    refused = tenant.client.put("/api/repos")
    assert_error(refused, 405, "method_not_allowed")
    assert refused.headers["allow"] == "GET, POST"  # both routes of the path, not the first
    assert tenant.client.put("/api/keys/0123456789abcdef").headers["allow"] == "DELETE"


def test_missing_and_malformed_credentials(tenant):
    c = tenant.client
    resp = c.get("/api/repos", headers={"Authorization": ""})
    assert_error(resp, 401, "unauthenticated")
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    for bad in ["vmk_short", "Bearer", "vmk_0123456789abcdef_" + "A" * 43, "ghp_" + "x" * 36]:
        assert_error(c.get("/api/repos", headers={"Authorization": f"Bearer {bad}"}), 401)


def test_ssh_allow_from_widens_ssh_per_environment_and_bad_networks_are_refused(tenant, world):
    c = tenant.client
    url = f"/api/environments/{world.environment_id}"
    assert c.get(url).json()["ssh_allow_from"] == []
    patched = c.patch(url, json={"ssh_allow_from": ["203.0.113.7", "2001:db8::/32", "203.0.113.7"]})
    assert patched.status_code == 200, patched.text
    assert patched.json()["ssh_allow_from"] == ["203.0.113.7/32", "2001:db8::/32"]
    refused = c.patch(url, json={"ssh_allow_from": ["203.0.113.0/33"]})
    assert_error(refused, 422, "invalid_input")
    assert "not an IP network" in refused.text
    assert_error(c.patch(url, json={"ssh_allow_from": "10.0.0.0/8"}), 422, "invalid_input")
    assert c.get(url).json()["ssh_allow_from"] == ["203.0.113.7/32", "2001:db8::/32"]
    assert c.patch(url, json={"ssh_allow_from": []}).json()["ssh_allow_from"] == []
