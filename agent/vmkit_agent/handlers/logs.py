"""`logs_fetch`: the last lines of a container's output."""

from __future__ import annotations

from typing import Any

from vmkit_agent.context import HandlerContext
from vmkit_agent.errors import InvalidParams
from vmkit_agent.handlers.params import bounded_int, required_str
from vmkit_agent.host.base import CONTAINER_NAME

DEFAULT_LINES = 100
MAX_LINES = 5000
# Any one line must fit a 32 KB frame even if every character needs a 6-byte JSON
# escape; longer lines (Docker already splits at 16 KB) are cut and marked.
MAX_LINE_CHARS = 4096


def logs_fetch(ctx: HandlerContext, params: dict[str, Any]) -> dict[str, Any]:
    container = required_str(params, "container")
    if not CONTAINER_NAME.fullmatch(container):
        raise InvalidParams(f"container {container!r} is not a valid container name")
    lines = bounded_int(params, "lines", default=DEFAULT_LINES, low=1, high=MAX_LINES)
    return {
        "lines": [
            {"ts": line.ts, "text": _clip(line.text)}
            for line in ctx.host.container_logs(container, lines)
        ]
    }


def _clip(text: str) -> str:
    if len(text) <= MAX_LINE_CHARS:
        return text
    return f"{text[:MAX_LINE_CHARS]} …[{len(text) - MAX_LINE_CHARS} characters cut]"
