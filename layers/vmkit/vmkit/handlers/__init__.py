"""Interface adapters for the event-driven functions: the state machines' tasks, the
agents' WebSocket routes, GitHub's webhooks and the sweeper's schedule.

`events` models each event just enough for the handler to read what it uses (the
fields are named as on the wire); `steps` turns a state-machine step into a handler.
The REST and MCP interfaces are `vmkit.rest` and `vmkit.mcp`.
"""
