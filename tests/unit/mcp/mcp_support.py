"""Helpers for the MCP tests: the app under uvicorn on loopback, the SDK client, and
Lambda function URL events.

Import as `tests.unit.mcp.mcp_support` (unit and integration tests share it).
"""

from __future__ import annotations

import asyncio
import copy
import json
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvicorn
from mcp.client import Client
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client
from mcp.types import CallToolResult

from vmkit.mcp import create_mcp_app

T = TypeVar("T")
EVENT_TEMPLATE = Path(__file__).with_name("function_url_event.json")


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run an ASGI app under uvicorn in a thread; yield its base URL.

    The socket is bound and listening before the thread starts, so a client can
    connect at once: the kernel queues the connection until uvicorn accepts it.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"


@pytest.fixture
def mcp_url(aws) -> Iterator[str]:
    """The MCP endpoint of `create_mcp_app()` under uvicorn, over moto."""
    with serve(create_mcp_app()) as base:
        yield f"{base}/mcp"


@asynccontextmanager
async def connect(url: str, key: str | None, *, mode: str = "auto") -> AsyncIterator[Client]:
    """An SDK client session over streamable HTTP, with the key as a bearer token."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with (
        create_mcp_http_client(headers=headers) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        yield client


def run(url: str, key: str | None, scenario: Callable[[Client], Awaitable[T]], **kw: Any) -> T:
    async def go() -> T:
        async with connect(url, key, **kw) as client:
            return await scenario(client)

    return asyncio.run(go())


def call(url: str, key: str, tool: str, arguments: dict[str, Any] | None = None) -> CallToolResult:
    """One tool call in a fresh session (each call stands alone on a stateless server)."""
    return run(url, key, lambda client: client.call_tool(tool, arguments or {}))


def ok(result: CallToolResult) -> dict[str, Any]:
    """The structured result of a successful call."""
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def error(result: CallToolResult, code: str) -> dict[str, Any]:
    """The error of a failed call: a tool error with this code, a message and text for the model."""
    assert result.is_error, result.structured_content
    err = result.structured_content["error"]
    assert err["code"] == code, err
    assert err["message"]
    text = result.content[0].text
    assert text.startswith(f"{code}: ") and "Traceback" not in text
    return err


# --- Lambda function URL events ----------------------------------------------------------


def function_url_event(
    body: dict[str, Any] | None,
    *,
    headers: dict[str, str] | None = None,
    method: str = "POST",
    path: str = "/mcp",
) -> dict[str, Any]:
    """A function URL event (payload format 2.0) as Lambda sends it, carrying `body`."""
    event = copy.deepcopy(json.loads(EVENT_TEMPLATE.read_text()))
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["headers"].update({k.lower(): v for k, v in (headers or {}).items()})
    event["body"] = None if body is None else json.dumps(body)
    return event


def jsonrpc(method: str, params: dict[str, Any] | None = None, id: int | None = 1) -> dict:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params or {}}
    if id is not None:
        message["id"] = id
    return message
