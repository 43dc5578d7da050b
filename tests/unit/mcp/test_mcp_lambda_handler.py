"""The MCP function's real handler (functions/mcp/app.py) fed Lambda function URL events.

One handler object is one warm execution environment: it must answer invocation after
invocation, which is exactly where an adapter that restarts the app's lifespan per
invocation breaks (the session manager runs once per process).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anyio.to_thread
import httpx2
import pytest
from aws_lambda_powertools.utilities.parser.models import LambdaFunctionUrlModel
from mangum import Mangum

from tests.support.modules import load_module
from tests.unit.mcp.mcp_support import function_url_event, jsonrpc
from vmkit.mcp import create_mcp_app
from vmkit.mcp.tools import TOOLS

LEGACY = "2025-06-18"


@pytest.fixture
def handler(aws):
    """A fresh import of the function's module: a cold start."""
    module = load_module("mcp")
    yield module.handler
    module.handler.close()


def invoke(handler, message: dict | None, key: str | None, **headers: str) -> dict[str, Any]:
    """Invoke the handler as Lambda does for one HTTP request to the function URL."""
    if key:
        headers["authorization"] = f"Bearer {key}"
    event = function_url_event(message, headers=headers)
    LambdaFunctionUrlModel.model_validate(event)  # the shape AWS sends
    response = handler(event, None)
    assert set(response) >= {"statusCode", "headers", "body", "isBase64Encoded"}
    return response


def rpc(handler, key: str, method: str, params: dict | None = None) -> dict[str, Any]:
    response = invoke(handler, jsonrpc(method, params), key, **{"mcp-protocol-version": LEGACY})
    assert response["statusCode"] == 200, response
    assert response["headers"]["content-type"].startswith("application/json")
    body = json.loads(response["body"])
    assert "error" not in body, body
    return body["result"]


def session(handler, key: str) -> list[str]:
    """What a client does against a stateless server: handshake, list, call."""
    init = rpc(
        handler,
        key,
        "initialize",
        {
            "protocolVersion": LEGACY,
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    )
    assert init["serverInfo"]["name"] == "vmkit"
    initialized = invoke(
        handler,
        jsonrpc("notifications/initialized", id=None),
        key,
        **{"mcp-protocol-version": LEGACY},
    )
    assert initialized["statusCode"] == 202
    assert len(rpc(handler, key, "tools/list")["tools"]) == len(TOOLS)
    result = rpc(handler, key, "tools/call", {"name": "list_environments", "arguments": {}})
    assert result["isError"] is False
    return [e["id"] for e in result["structuredContent"]["items"]]


def test_two_then_a_hundred_warm_invocations_all_succeed(handler, tenant, world):
    for _ in range(2):
        assert session(handler, tenant.key) == [world.environment_id]
    for _ in range(100):
        result = rpc(
            handler, tenant.key, "tools/call", {"name": "list_environments", "arguments": {}}
        )
        assert [e["id"] for e in result["structuredContent"]["items"]] == [world.environment_id]


def test_a_warm_handler_survives_other_event_loops_in_the_process(handler, tenant, world):
    assert session(handler, tenant.key) == [world.environment_id]
    asyncio.run(asyncio.sleep(0))  # leaves the thread with no current event loop
    assert session(handler, tenant.key) == [world.environment_id]


def test_the_naive_adapter_fails_on_the_second_warm_invocation(aws, tenant):
    """Why the handler owns the lifespan: Mangum's default restarts it per invocation."""
    host = function_url_event(None)["requestContext"]["domainName"]
    naive = Mangum(create_mcp_app(allowed_hosts=[host]), lifespan="auto")
    message = jsonrpc("tools/list")
    headers = {"mcp-protocol-version": LEGACY, "authorization": f"Bearer {tenant.key}"}
    assert naive(function_url_event(message, headers=headers), None)["statusCode"] == 200
    with pytest.raises(Exception, match="once per instance") as failed:
        naive(function_url_event(message, headers=headers), None)
    assert type(failed.value).__name__ == "LifespanFailure"


def test_the_function_url_host_is_allowed_and_no_other(handler, tenant):
    rpc(handler, tenant.key, "tools/list")
    foreign = invoke(
        handler,
        jsonrpc("tools/list"),
        tenant.key,
        host="attacker.example",
        **{"mcp-protocol-version": LEGACY},
    )
    assert foreign["statusCode"] == 421


def test_refusals_are_http_answers_in_the_function_url_shape(handler, tenant):
    missing = invoke(handler, jsonrpc("tools/list"), None)
    assert missing["statusCode"] == 401 and "Bearer" in missing["headers"]["www-authenticate"]
    wrong_path = function_url_event(
        jsonrpc("tools/list"), path="/", headers={"authorization": f"Bearer {tenant.key}"}
    )
    assert handler(wrong_path, None)["statusCode"] == 404
    not_json = function_url_event(None, headers={"authorization": f"Bearer {tenant.key}"})
    not_json["body"] = "{not json"
    assert handler(not_json, None)["statusCode"] == 400


class LambdaTransport(httpx2.AsyncBaseTransport):
    """Carries the SDK client's HTTP requests to the handler as function URL events."""

    def __init__(self, handler):
        self.handler = handler

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        event = function_url_event(
            None, headers=headers, method=request.method, path=request.url.path
        )
        body = await request.aread()
        event["body"] = body.decode() if body else None
        LambdaFunctionUrlModel.model_validate(event)
        # Lambda runs the handler on its own thread; this test's loop is busy here.
        response = await anyio.to_thread.run_sync(self.handler, event, None)
        return httpx2.Response(
            response["statusCode"], headers=response["headers"], content=response["body"].encode()
        )


def test_the_sdk_client_works_through_the_handler(handler, tenant, world):
    from mcp.client import Client
    from mcp.client.streamable_http import streamable_http_client

    async def scenario():
        http = httpx2.AsyncClient(
            transport=LambdaTransport(handler), headers={"Authorization": f"Bearer {tenant.key}"}
        )
        url = f"https://{function_url_event(None)['headers']['host']}/mcp"
        async with http, Client(streamable_http_client(url, http_client=http)) as client:
            tools = await client.list_tools()
            plan = await client.call_tool(
                "deploy", {"environment_id": world.environment_id, "dry_run": True}
            )
            return tools, plan

    tools, plan = asyncio.run(scenario())
    assert len(tools.tools) == len(TOOLS)
    assert plan.structured_content["plan"]["monthly_cost_usd"] == 4.5


def test_a_cold_instance_builds_only_the_tools_it_is_asked_for(aws, tenant, world, monkeypatch):
    """Building a tool derives its schemas (about 3 ms each): a cold start serving one
    tools/call builds that one; tools/list builds the rest, once per process."""
    import vmkit.mcp.server as server

    built: list[str] = []
    real_tool = server._tool
    monkeypatch.setattr(
        server, "_tool", lambda spec: built.append(spec.fn.__name__) or real_tool(spec)
    )
    module = load_module("mcp")
    try:
        assert built == []
        rpc(
            module.handler, tenant.key, "tools/call", {"name": "list_environments", "arguments": {}}
        )
        assert built == ["list_environments"]
        listed = [t["name"] for t in rpc(module.handler, tenant.key, "tools/list")["tools"]]
        assert listed == [spec.fn.__name__ for spec in TOOLS]
        assert sorted(built) == sorted(listed)  # each built once
        rpc(module.handler, tenant.key, "tools/list")
        assert len(built) == len(TOOLS)
    finally:
        module.handler.close()
