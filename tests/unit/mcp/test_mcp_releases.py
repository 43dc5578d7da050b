"""The operating tools over MCP: deploys listed and cancelled, releases and rollback,
with the scopes REST applies."""

from __future__ import annotations

from tests.unit.mcp.mcp_support import call, error, ok
from vmkit.models import DeployAction, Release


def _releases(deps, tenant, world, *tags: str) -> None:
    """Releases as succeeded deploys record them (the deploy machine makes these)."""
    for number, tag in enumerate(tags, start=1):
        deps.store.create(
            Release(
                id=Release.id_for(world.environment_id, number),
                workspace_id=tenant.workspace_id,
                environment_id=world.environment_id,
                number=number,
                commit_sha=tag,
                image_tag=tag,
                ref="main",
                deploy_id=f"dep_{number}",
                action=DeployAction.deploy,
                requested_by="key:test",
                interface="rest",
            )
        )


def test_a_read_key_lists_releases_and_plans_a_rollback_but_cannot_start_one(
    mcp_url, deps, tenant, world, new_key
):
    _releases(deps, tenant, world, "1" * 40, "2" * 40)
    read = new_key("read")
    env = {"environment_id": world.environment_id}
    listed = ok(call(mcp_url, read, "list_releases", env))["items"]
    assert [(r["number"], r["current"]) for r in listed] == [(2, True), (1, False)]
    plan = ok(call(mcp_url, read, "rollback", {**env, "dry_run": True}))
    assert plan["dry_run"] and plan["deploy"] is None
    assert (plan["plan"]["release"], plan["plan"]["image_tag"]) == (1, "1" * 40)
    refused = error(call(mcp_url, read, "rollback", env), "insufficient_scope")
    assert "'deploy'" in refused["message"]
    assert tenant.client.get("/api/deploys").json()["items"] == []


def test_a_deploy_key_rolls_back_then_lists_and_cancels_the_rollback(
    mcp_url, deps, tenant, world, new_key
):
    _releases(deps, tenant, world, "1" * 40, "2" * 40)
    key = new_key("deploy")
    env = {"environment_id": world.environment_id}
    started = ok(call(mcp_url, key, "rollback", {**env, "release": 1}))["deploy"]
    assert (started["action"], started["rollback_to"], started["status"]) == (
        "rollback",
        1,
        "queued",
    )
    busy = error(call(mcp_url, key, "rollback", env), "deploy_in_progress")
    assert started["id"] in busy["message"]
    listed = ok(call(mcp_url, key, "list_deploys", env))["items"]
    assert [d["id"] for d in listed] == [started["id"]]
    error(call(mcp_url, new_key("read"), "cancel_deploy", {"deploy_id": started["id"]}),
          "insufficient_scope")  # fmt: skip
    cancelled = ok(call(mcp_url, key, "cancel_deploy", {"deploy_id": started["id"]}))
    assert cancelled["status"] == "cancelled"
    error(call(mcp_url, key, "cancel_deploy", {"deploy_id": started["id"]}), "deploy_ended")


def test_rollback_refusals_are_tool_errors_an_agent_can_act_on(
    mcp_url, deps, tenant, world, new_key
):
    key = new_key("deploy")
    env = {"environment_id": world.environment_id}
    error(call(mcp_url, key, "rollback", env), "no_release")
    _releases(deps, tenant, world, "1" * 40, "2" * 40)
    missing = error(call(mcp_url, key, "rollback", {**env, "release": 7}), "release_not_found")
    assert "/releases" in missing["message"]
    error(call(mcp_url, key, "rollback", {**env, "release": 2}), "release_is_current")
    bad = call(mcp_url, key, "rollback", {**env, "release": 0})
    assert bad.is_error


def test_a_key_restricted_to_another_environment_sees_none_of_this_one(
    mcp_url, deps, tenant, world, new_key
):
    _releases(deps, tenant, world, "1" * 40, "2" * 40)
    staging = tenant.client.post(
        "/api/environments",
        json={"repo_id": world.repo_id, "name": "staging", "compute_target_id": world.target_id},
    ).json()
    key = new_key("deploy", (staging["id"],))
    env = {"environment_id": world.environment_id}
    for tool, arguments in [("list_releases", env), ("rollback", env), ("list_deploys", env)]:
        error(call(mcp_url, key, tool, arguments), "environment_not_allowed")


def test_rotate_credentials_needs_admin_and_a_vm_for_the_agent_token(mcp_url, world, new_key):
    arguments = {"environment_id": world.environment_id, "credential": "deploy_key"}
    for scope in ("read", "deploy"):
        error(call(mcp_url, new_key(scope), "rotate_credentials", arguments), "insufficient_scope")
    no_vm = error(
        call(
            mcp_url,
            new_key("admin"),
            "rotate_credentials",
            {"environment_id": world.environment_id, "credential": "agent_token"},
        ),
        "no_instance",
    )
    assert "no VM" in no_vm["message"]
    bad = call(mcp_url, new_key("admin"), "rotate_credentials", {**arguments, "credential": "x"})
    assert bad.is_error
