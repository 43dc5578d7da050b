"""The VMKit MCP server and the ASGI app that serves it over streamable HTTP.

Stateless, with JSON responses: every POST carries one JSON-RPC message and gets one
JSON answer, and nothing about a client is kept between requests. That is what lets
one app run unchanged on a Lambda function URL (where consecutive requests may land on
different instances) and under the local stack.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

from mcp.server import MCPServer
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.mcpserver.tools import Tool, ToolManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import CallToolResult
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from vmkit.deps import get_deps
from vmkit.errors import VMKitError
from vmkit.mcp import errors
from vmkit.mcp.auth import ApiKeyVerifier
from vmkit.mcp.tools import TOOLS
from vmkit.mcp.tools.common import ToolSpec
from vmkit.settings import get_settings

MCP_PATH = "/mcp"
VERSION = "0.1.0"  # as the REST API reports
LOOPBACK_HOSTS = ("127.0.0.1:*", "localhost:*", "[::1]:*")
LOOPBACK_ORIGINS = ("http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*")

INSTRUCTIONS = """\
VMKit deploys a GitHub repo to a small VM the user owns and serves it over HTTPS at
{repo}-{environment}.{apps domain}. The usual path from a repo to a live URL:
1. list_repos and list_compute_targets to find the repo_id and compute_target_id;
2. scan_repo to see what the app needs (port, services, env vars);
3. create_environment, then set_env_vars for the variables the scan found;
4. deploy with dry_run: true to show the user the plan and monthly cost, then deploy;
5. get_deploy every 10-20 s until succeeded (the live url) or failed (the reason);
   waiting_for_pr means the user must merge the onboarding pull request.
To operate a running app: get_metrics, get_logs, diagnose, harden_vm, upgrade_agent.
Ids carry their kind as a prefix (repo_, env_, tgt_, dep_). A failed call returns an
error code, a message and a hint saying what to do next.
"""


class VMKitMCPServer(MCPServer):
    """MCPServer whose tool calls refuse unknown arguments and report domain errors as tool errors.

    The SDK ignores arguments a tool does not declare; for `deploy(dryrun=true)` that
    would start a real deploy, so a misspelt argument is refused instead. And the SDK
    treats any exception other than its own `ToolError` as a crash and hides its
    message; VMKit's domain errors are written for the caller, so they are passed on.
    """

    def __init__(self, specs: list[ToolSpec], **settings: Any):
        super().__init__(**settings)
        self._tool_manager = ToolsOnFirstUse(specs)

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Any = None
    ) -> CallToolResult:
        tool = self._tool_manager.get_tool(name)
        if tool is not None:
            accepted = frozenset(tool.parameters["properties"])
            if unknown := set(arguments) - accepted:
                return errors.unknown_arguments(unknown, accepted)
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, VMKitError):
                return errors.from_domain(name, cause)
            # Only the SDK's own argument check raises a plain ToolError from a
            # ValidationError; one from inside a tool (UnexpectedToolError) is a bug.
            if isinstance(cause, ValidationError) and not isinstance(exc, UnexpectedToolError):
                return errors.from_validation(cause)
            raise


class ToolsOnFirstUse(ToolManager):
    """The SDK's tool registry, building each tool when it is first asked for.

    Building a tool derives its argument model and its input and output JSON schemas
    from the function's signature: about 3 ms each, 80 ms for all of them, which was
    the largest part of the MCP function's cold start that is VMKit's own. A cold
    instance often serves `initialize` or one `tools/call`, which need none or one of
    them; `tools/list` builds the rest, once per process.
    """

    def __init__(self, specs: list[ToolSpec]):
        super().__init__()
        self._specs = {spec.fn.__name__: spec for spec in specs}

    def get_tool(self, name: str) -> Tool | None:
        if name not in self._tools and name in self._specs:
            self._tools[name] = _tool(self._specs[name])
        return self._tools.get(name)

    def list_tools(self) -> list[Tool]:
        return [tool for name in self._specs if (tool := self.get_tool(name)) is not None]


def _tool(spec: ToolSpec) -> Tool:
    tool = Tool.from_function(
        spec.fn, description=inspect.cleandoc(spec.fn.__doc__ or ""), annotations=spec.annotations
    )
    tool.parameters["additionalProperties"] = False  # as call_tool enforces
    return tool


def build_server() -> VMKitMCPServer:
    settings = get_settings()
    return VMKitMCPServer(
        TOOLS,
        name="vmkit",
        title="VMKit",
        instructions=INSTRUCTIONS,
        token_verifier=ApiKeyVerifier(get_deps),
        auth=AuthSettings(
            # Keys are issued by the REST API (POST /api/keys), not by an OAuth
            # server; with no resource_server_url nothing advertises this URL.
            issuer_url=settings.public_url or "http://127.0.0.1",
            resource_server_url=None,
            required_scopes=["read"],  # every key has it; tools need more through services
        ),
        version=VERSION,
        log_level="WARNING",  # the SDK logs every stateless request at INFO
    )


def create_mcp_app(
    *,
    allowed_hosts: Iterable[str] = LOOPBACK_HOSTS,
    allowed_origins: Iterable[str] = LOOPBACK_ORIGINS,
    path: str = MCP_PATH,
) -> Starlette:
    """The MCP endpoint (at `path`) as an ASGI app.

    Its lifespan runs the SDK's session manager and must be entered before the first
    request: uvicorn does that for an app it serves; a parent app that mounts this
    one has to enter `app.router.lifespan_context(app)` in its own lifespan.

    `allowed_hosts` is the Host header allow-list (`host:*` allows any port), kept
    by the SDK against DNS rebinding; the defaults suit a server on loopback. A
    browser's Origin must be in `allowed_origins`; clients that are not browsers
    send none.
    """
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=list(allowed_hosts),
        allowed_origins=list(allowed_origins),
    )
    app = build_server().streamable_http_app(
        streamable_http_path=path,
        stateless_http=True,
        json_response=True,
        transport_security=security,
        max_request_body_size=get_settings().max_body_bytes,
    )
    app.state.transport_security = security
    app.add_middleware(_NoStandaloneStream, path=path)
    return app


class _NoStandaloneStream:
    """Answer GET on the endpoint with 405, as the spec lets a server that offers no
    server-initiated stream do.

    A stateless server has nothing to push, yet the SDK would hold a GET open as an
    SSE stream forever; behind a function URL that pins an execution environment until
    the function times out, on every client connect. Clients treat 405 as "no stream".
    """

    def __init__(self, app: ASGIApp, path: str):
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and scope["path"].rstrip("/") == self.path.rstrip("/")
        ):
            response = PlainTextResponse(
                "Method Not Allowed: this server sends no unsolicited messages",
                status_code=405,
                headers={"Allow": "POST"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def allow_host(app: Starlette, host: str) -> None:
    """Add a host to a running app's allow-list (the SDK reads it on every request)."""
    hosts = app.state.transport_security.allowed_hosts
    if host not in hosts:
        hosts.append(host)
