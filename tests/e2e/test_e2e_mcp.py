"""An AI agent's journey through MCP on the local stack, from a repo to a live URL."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from mcp import ClientSession
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

from tests.e2e.conftest import Local, ok
from tests.integration.mcp.test_mcp_inspector import inspect

pytestmark = pytest.mark.e2e


def _call(local: Local, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """Run tool calls in one MCP session, as an agent's client would."""
    url = local.stack.app_urls["mcp"]
    headers = {"Authorization": f"Bearer {local.stack.local_json['api_key']}"}

    async def session() -> list[Any]:
        async with (
            create_mcp_http_client(headers=headers) as http,
            streamable_http_client(url, http_client=http) as (read, write, *_),
            ClientSession(read, write) as client,
        ):
            await client.initialize()
            return [await client.call_tool(name, args) for name, args in calls]

    return asyncio.run(session())


def test_an_agent_deploys_through_mcp_and_follows_it_to_a_live_url(local: Local, tmp_path):
    app = local.new_app(tmp_path)
    env_id = app["env"]["id"]
    listed, plan, started = _call(
        local,
        [
            ("list_environments", {}),
            ("deploy", {"environment_id": env_id, "dry_run": True}),
            ("deploy", {"environment_id": env_id}),
        ],
    )
    assert env_id in {e["id"] for e in listed.structured_content["items"]}
    assert plan.structured_content["plan"]["monthly_cost_usd"] == 0  # a local VM costs nothing
    assert not started.is_error, started.content
    deploy_id = started.structured_content["deploy"]["id"]
    local.wait(
        deploy_id,
        lambda d: d["status"] == "waiting_for_pr" and "/pull/" in (d["steps"][-1]["detail"] or ""),
    )
    local.merge_onboarding_pr(app["repo"].full_name)
    local.wait(deploy_id)
    (followed,) = _call(local, [("get_deploy", {"deploy_id": deploy_id})])
    deploy = followed.structured_content
    assert deploy["status"] == "succeeded" and local.get_app(deploy["url"]).status_code == 200
    (metrics,) = _call(local, [("get_metrics", {"environment_id": env_id})])
    assert not metrics.is_error and "cpu_pct" in json.dumps(metrics.structured_content)
    events = ok(local.api.get("/api/audit"))["items"]
    assert any(e["interface"] == "mcp" and e["action"] == "deploy.start" for e in events)


def test_a_wrong_tool_input_is_a_tool_error_an_agent_can_act_on(local: Local):
    (refused,) = _call(
        local,
        [
            (
                "destroy_environment",
                {"environment_id": "env_00000000000000000000000000", "confirm": "production"},
            )
        ],
    )
    assert refused.is_error
    assert "environment" in refused.content[0].text


def test_the_inspector_lists_the_tools_of_the_local_stack(local: Local):
    listed = inspect(
        local.stack.app_urls["mcp"], local.stack.local_json["api_key"], "--method", "tools/list"
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert {"deploy", "get_logs", "destroy_environment"} <= {
        t["name"] for t in json.loads(listed.stdout)["tools"]
    }
