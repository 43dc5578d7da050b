from tests.unit.mcp.mcp_support import mcp_url  # noqa: F401 (a fixture)
