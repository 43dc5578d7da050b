"""The MCP server as a client meets it: handshake, tool list, authentication, hosts."""

from __future__ import annotations

import httpx
import pytest
from mcp.shared.exceptions import MCPError

from tests.unit.mcp.mcp_support import call, error, jsonrpc, run
from vmkit.mcp.tools import TOOLS

EXPECTED_TOOLS = {
    "list_compute_targets",
    "list_repos",
    "scan_repo",
    "onboard_repo",
    "create_environment",
    "set_env_vars",
    "deploy",
    "get_deploy",
    "list_deploys",
    "cancel_deploy",
    "list_releases",
    "rollback",
    "list_environments",
    "get_logs",
    "get_metrics",
    "diagnose",
    "harden_vm",
    "upgrade_agent",
    "destroy_environment",
    "list_members",
    "invite_member",
    "set_member_role",
    "remove_member",
    "rotate_credentials",
    "resize",
}
INITIALIZE = jsonrpc(
    "initialize",
    {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
)
JSON_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def _post(url: str, headers: dict[str, str], body: dict = INITIALIZE) -> httpx.Response:
    return httpx.post(url, json=body, headers={**JSON_HEADERS, **headers}, timeout=10)


def _refused(exc_info: pytest.ExceptionInfo) -> bool:
    """The SDK client gives up with an MCPError (inside its task groups' exception groups)."""
    group = exc_info.value
    while isinstance(group, BaseExceptionGroup):
        group = group.exceptions[0]
    return isinstance(group, MCPError)


def test_initialize_handshake_names_the_server_and_its_instructions(mcp_url, tenant):
    async def scenario(client):
        return client.server_info, client.instructions, client.server_capabilities

    info, instructions, capabilities = run(mcp_url, tenant.key, scenario, mode="legacy")
    assert info.name == "vmkit" and info.version
    assert capabilities.tools is not None
    # the instructions walk an agent from a repo to a live URL
    for step in ("scan_repo", "create_environment", "dry_run", "get_deploy"):
        assert step in instructions


def test_modern_clients_negotiate_without_a_handshake(mcp_url, tenant):
    async def scenario(client):
        return client.protocol_version, await client.list_tools()

    version, listed = run(mcp_url, tenant.key, scenario, mode="auto")
    assert version >= "2026"
    assert {t.name for t in listed.tools} == EXPECTED_TOOLS


def test_tools_list_has_every_tool_with_schemas_and_guidance(mcp_url, tenant):
    listed = run(mcp_url, tenant.key, lambda client: client.list_tools(), mode="legacy")
    tools = {t.name: t for t in listed.tools}
    assert set(tools) == EXPECTED_TOOLS == {spec.fn.__name__ for spec in TOOLS}
    for tool in tools.values():
        # written for a model: what it does, when to use it, what comes back
        assert len(tool.description) > 200, tool.name
        assert "\n    " not in tool.description  # docstring indentation removed
        assert tool.input_schema["additionalProperties"] is False, tool.name
        assert tool.output_schema and tool.output_schema["type"] == "object", tool.name
        assert tool.annotations is not None, tool.name
    deploy = tools["deploy"].input_schema["properties"]
    assert deploy["environment_id"]["pattern"] == "^env_[0-9A-HJKMNP-TV-Z]{26}$"
    assert deploy["dry_run"]["type"] == "boolean"
    assert "get_deploy" in tools["deploy"].description
    lines = tools["get_logs"].input_schema["properties"]["lines"]
    assert (lines["minimum"], lines["maximum"]) == (1, 5000)
    assert tools["destroy_environment"].input_schema["required"] == ["environment_id", "confirm"]
    assert tools["destroy_environment"].annotations.destructive_hint is True
    assert tools["list_environments"].annotations.read_only_hint is True
    assert tools["deploy"].annotations.read_only_hint is False


def test_a_call_without_a_key_is_refused(mcp_url):
    resp = _post(mcp_url, {})
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"].startswith("Bearer ")
    with pytest.raises(BaseException) as refused:
        call(mcp_url, None, "list_environments")
    assert _refused(refused)


@pytest.mark.parametrize(
    "credential",
    [
        "not-a-key",
        "vmk_0123456789abcdef_" + "A" * 43,  # well formed, unknown
        "vmka_0123456789abcdef_" + "A" * 43,  # an agent token
        "vms_0123456789abcdef_" + "A" * 43,  # a browser session
    ],
)
def test_anything_but_a_valid_api_key_is_refused(mcp_url, credential):
    resp = _post(mcp_url, {"Authorization": f"Bearer {credential}"})
    assert resp.status_code == 401
    assert credential not in resp.text


def test_a_revoked_key_is_refused_on_the_next_call(mcp_url, tenant, new_key):
    key = new_key("read")
    assert not call(mcp_url, key, "list_environments").is_error
    key_id = key.split("_")[1]
    assert tenant.client.delete(f"/api/keys/{key_id}").status_code == 200
    assert _post(mcp_url, {"Authorization": f"Bearer {key}"}).status_code == 401
    with pytest.raises(BaseException) as refused:
        call(mcp_url, key, "list_environments")
    assert _refused(refused)


def test_foreign_hosts_and_browser_origins_are_refused(mcp_url, tenant):
    auth = {"Authorization": f"Bearer {tenant.key}"}
    assert _post(mcp_url, auth).status_code == 200
    assert _post(mcp_url, {**auth, "Host": "attacker.example"}).status_code == 421
    assert _post(mcp_url, {**auth, "Origin": "https://attacker.example"}).status_code == 403


def test_an_unknown_tool_is_a_tool_error_not_a_protocol_failure(mcp_url, tenant):
    result = call(mcp_url, tenant.key, "launch_rocket", {})
    assert result.is_error and "Unknown tool" in result.content[0].text


def test_misspelt_arguments_are_refused_before_anything_happens(mcp_url, tenant, world):
    result = call(
        mcp_url, tenant.key, "deploy", {"environment_id": world.environment_id, "dryrun": True}
    )
    err = error(result, "invalid_input")
    assert "dryrun" in err["message"] and "dry_run" in err["message"]
    assert tenant.client.get("/api/deploys").json()["items"] == []  # no deploy started


def test_a_crash_in_a_tool_reveals_nothing_but_the_tool_name(mcp_url, tenant, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("boom at arn:aws:dynamodb:eu-central-1:123456789012:table/vmkit")

    monkeypatch.setattr("vmkit.services.environments.list_environments", crash)
    result = call(mcp_url, tenant.key, "list_environments")
    assert result.is_error
    assert result.content[0].text == "Error executing tool list_environments"
