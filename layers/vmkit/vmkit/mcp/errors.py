"""How a failed tool call reads to an agent: an `is_error` result it can act on.

A domain error (`VMKitError`) keeps its stable code and message and gains a hint
naming what to do next, usually which tool to call. Arguments that break the input
schema name each field and the rule it broke, never the value sent: a value may be a
secret. Both come back as MCP tool errors (`is_error: true`, the text for the model,
`{"error": {...}}` as structured content for a program), never as protocol failures.
Anything else is a crash, answered by the SDK with a generic message while the
traceback stays in the server's log.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mcp.types import CallToolResult, TextContent
from pydantic import ValidationError

from vmkit.errors import VMKitError
from vmkit.observability import logger

_HINTS = {
    "insufficient_scope": (
        "This API key may not do that; ask the user for a key with the scope named above."
    ),
    "environment_not_allowed": (
        "This API key is limited to some environments; list_environments shows them."
    ),
    "not_found": (
        "Check the id: list_environments, list_repos and list_compute_targets show what exists."
    ),
    "agent_unavailable": (
        "The VM's agent is not connected. If a deploy is running, wait for it with get_deploy; "
        "otherwise retry in a minute, and deploy again if the agent stays offline."
    ),
    "not_configured": (
        "This VMKit installation lacks that setting, which only its operator can add; tell the "
        "user. Tools that do not need it keep working."
    ),
    "invalid_input": "Fix the arguments named above and call the tool again.",
}


def tool_error(
    code: str, message: str, *, hint: str | None = None, details: Any = None
) -> CallToolResult:
    error: dict[str, Any] = {"code": code, "message": message}
    if hint:
        error["hint"] = hint
    if details is not None:
        error["details"] = details
    text = f"{code}: {message.rstrip('.')}." + (f" {hint}" if hint else "")
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content={"error": error},
        is_error=True,
    )


def from_domain(tool: str, exc: VMKitError) -> CallToolResult:
    if exc.status >= 500:
        logger.error("tool failed", extra={"tool": tool, "code": exc.code})
    return tool_error(exc.code, exc.message, hint=_hint(exc), details=exc.details)


def _hint(exc: VMKitError) -> str | None:
    if exc.code == "deploy_in_progress" and isinstance(exc.details, dict):
        return (
            f"Call get_deploy with deploy_id '{exc.details['active_deploy_id']}' until its "
            "status is succeeded, failed or cancelled, then call this tool again."
        )
    return _HINTS.get(exc.code)


def from_validation(exc: ValidationError) -> CallToolResult:
    # include_input=False: the rejected value may be a secret the caller sent.
    problems = [
        {"field": ".".join(str(part) for part in e["loc"]) or "arguments", "problem": e["msg"]}
        for e in exc.errors(include_url=False, include_input=False, include_context=False)
    ]
    message = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
    return tool_error("invalid_input", message, hint=_HINTS["invalid_input"], details=problems)


def unknown_arguments(names: Iterable[str], accepted: Iterable[str]) -> CallToolResult:
    listed = ", ".join(sorted(names))
    return tool_error(
        "invalid_input",
        f"unknown argument(s): {listed}; this tool takes: {', '.join(sorted(accepted))}",
        hint="Nothing was done. Fix the argument names and call the tool again.",
    )
