"""Use cases. REST routes, MCP tools, step functions and the CLI all call these."""
