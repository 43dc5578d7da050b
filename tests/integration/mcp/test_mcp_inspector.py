"""The official MCP inspector CLI (the TypeScript SDK's client) against the MCP app.

The inspector is an independent client implementation: it checks our handshake, tool
listing and results against the TypeScript SDK, including each result's structured
content against the tool's output schema. Inspector 0.15 (the last to run on Node 20)
has no way to send request headers, so `bearer_fetch.mjs`, preloaded with
`node --import`, adds `Authorization: Bearer <key>` to its requests: the header every
MCP client that supports headers sends. Without it the server refuses the inspector.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.support.api import make_world
from tests.support.template import ROOT
from vmkit.mcp.tools import TOOLS

INSPECTOR = ROOT / "tools/node_modules/.bin/mcp-inspector-cli"
BEARER = Path(__file__).with_name("bearer_fetch.mjs")


def inspect(url: str, key: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NODE_OPTIONS"}
    if key:
        env |= {"NODE_OPTIONS": f"--import={BEARER.as_uri()}", "VMKIT_MCP_KEY": key}
    return subprocess.run(
        [str(INSPECTOR), "--cli", url, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_inspector_lists_every_tool(mcp_url, tenant):
    listed = inspect(mcp_url, tenant.key, "--method", "tools/list")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    tools = json.loads(listed.stdout)["tools"]
    assert len(tools) == len(TOOLS)
    assert all(t["inputSchema"]["type"] == "object" and t["outputSchema"] for t in tools)
    assert {"deploy", "get_deploy", "destroy_environment"} <= {t["name"] for t in tools}


def test_the_inspector_calls_tools_and_accepts_their_structured_results(mcp_url, tenant):
    world = make_world(tenant)
    listed = inspect(
        mcp_url, tenant.key, "--method", "tools/call", "--tool-name", "list_environments"
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    result = json.loads(listed.stdout)
    assert result["structuredContent"]["items"][0]["id"] == world.environment_id
    planned = inspect(
        mcp_url,
        tenant.key,
        "--method",
        "tools/call",
        "--tool-name",
        "deploy",
        "--tool-arg",
        f"environment_id={world.environment_id}",
        "dry_run=true",
    )
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert json.loads(planned.stdout)["structuredContent"]["plan"]["monthly_cost_usd"] == 4.5


def test_the_inspector_without_a_key_is_refused(mcp_url):
    refused = inspect(mcp_url, None, "--method", "tools/list")
    assert refused.returncode != 0
    assert '"error": "invalid_token"' in refused.stderr
