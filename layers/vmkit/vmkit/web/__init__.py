"""The dashboard: server-rendered pages over the same services as REST and MCP."""

from vmkit.web.app import create_app

__all__ = ["create_app"]
