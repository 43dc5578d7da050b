"""The MCP server for AI coding agents: tools over `vmkit.services`, `vmk_` bearer keys.

`create_mcp_app()` returns the ASGI app (endpoint `/mcp`); the local stack serves it
as is, and the Lambda function behind the function URL serves it through
`vmkit.mcp.lambda_adapter.FunctionUrlHandler`, whose docstring says why it owns the
app's lifespan rather than using Lambda Web Adapter.
"""

from vmkit.mcp.server import allow_host, create_mcp_app

__all__ = ["allow_host", "create_mcp_app"]
