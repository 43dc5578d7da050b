"""The MCP tools, grouped as an agent meets them: set up, deploy, operate."""

from vmkit.mcp.tools import deploys, members, operate, setup

TOOLS = [*setup.TOOLS, *deploys.TOOLS, *operate.TOOLS, *members.TOOLS]
