"""Scopes are enforced per tool by the services; every change is audited as `mcp`."""

from __future__ import annotations

import pytest

from tests.unit.mcp.mcp_support import call, error, ok


def test_a_read_key_can_look_and_plan_but_not_deploy(mcp_url, tenant, world, new_key):
    read = new_key("read")
    env = {"environment_id": world.environment_id}
    assert ok(call(mcp_url, read, "list_environments"))["items"]
    assert ok(call(mcp_url, read, "list_compute_targets"))["items"]
    assert ok(call(mcp_url, read, "deploy", {**env, "dry_run": True}))["plan"]
    refused = error(call(mcp_url, read, "deploy", env), "insufficient_scope")
    assert "'deploy'" in refused["message"] and "scope" in refused["hint"]
    assert tenant.client.get("/api/deploys").json()["items"] == []


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("set_env_vars", {"environment_id": "{env}", "unset": ["MODE"]}),
        ("scan_repo", {"repo_id": "{repo}"}),
        ("onboard_repo", {"repo_id": "{repo}"}),
        ("destroy_environment", {"environment_id": "{env}", "confirm": "production"}),
    ],
)
def test_a_read_key_cannot_change_anything(mcp_url, world, new_key, tool, arguments):
    arguments = {
        k: v.format(env=world.environment_id, repo=world.repo_id) if isinstance(v, str) else v
        for k, v in arguments.items()
    }
    error(call(mcp_url, new_key("read"), tool, arguments), "insufficient_scope")


def test_a_deploy_key_deploys_but_cannot_create_or_destroy_environments(mcp_url, world, new_key):
    deploy = new_key("deploy")
    started = ok(call(mcp_url, deploy, "deploy", {"environment_id": world.environment_id}))
    assert started["deploy"]["status"] == "queued"
    error(
        call(
            mcp_url,
            deploy,
            "create_environment",
            {"repo_id": world.repo_id, "name": "staging", "compute_target_id": world.target_id},
        ),
        "insufficient_scope",
    )
    error(
        call(
            mcp_url,
            deploy,
            "destroy_environment",
            {"environment_id": world.environment_id, "confirm": "production"},
        ),
        "insufficient_scope",
    )


def test_a_key_restricted_to_one_environment_cannot_touch_another(mcp_url, tenant, world, new_key):
    staging = tenant.client.post(
        "/api/environments",
        json={"repo_id": world.repo_id, "name": "staging", "compute_target_id": world.target_id},
    ).json()
    key = new_key("deploy", (staging["id"],))
    listed = ok(call(mcp_url, key, "list_environments"))["items"]
    assert [e["id"] for e in listed] == [staging["id"]]
    err = error(
        call(mcp_url, key, "deploy", {"environment_id": world.environment_id}),
        "environment_not_allowed",
    )
    assert "list_environments" in err["hint"]
    assert ok(call(mcp_url, key, "deploy", {"environment_id": staging["id"]}))["deploy"]


def test_every_change_is_audited_with_the_key_and_interface_mcp(mcp_url, tenant, world, new_key):
    key = new_key("admin")
    key_id = key.split("_")[1]
    created = ok(
        call(
            mcp_url,
            key,
            "create_environment",
            {"repo_id": world.repo_id, "name": "staging", "compute_target_id": world.target_id},
        )
    )
    call(
        mcp_url,
        key,
        "set_env_vars",
        {"environment_id": created["id"], "variables": [{"name": "X", "value": "1"}]},
    )
    deploy = ok(call(mcp_url, key, "deploy", {"environment_id": created["id"]}))["deploy"]
    call(
        mcp_url,
        key,
        "destroy_environment",
        {"environment_id": world.environment_id, "confirm": "production"},
    )

    events = tenant.client.get("/api/audit").json()["items"]
    by_mcp = [e for e in events if e["interface"] == "mcp"]
    assert [e["action"] for e in by_mcp] == [
        "teardown.start",
        "deploy.start",
        "environment.set_env_vars",
        "environment.create",
    ]
    assert all(e["key_id"] == key_id and e["actor"] == f"key:{key_id}" for e in by_mcp)
    assert by_mcp[1]["target_id"] == deploy["id"]
    # what the REST setup did is still audited as REST
    assert {e["action"] for e in events if e["interface"] == "rest"} >= {"environment.create"}
