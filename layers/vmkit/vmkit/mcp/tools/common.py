"""What every tool shares: the caller and the hints on what a tool changes.

Argument types (ids, limits, cursors) come from `vmkit.schemas`, where REST's are
defined too: each carries its description and constraint, so both land in the tool's
JSON schema and a wrong argument is refused before any service runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mcp.types import ToolAnnotations

from vmkit.auth import Principal
from vmkit.deps import Deps, get_deps
from vmkit.mcp.auth import current_principal

# Hints a client may use to decide, for instance, which calls need the user's consent.
READS = ToolAnnotations(read_only_hint=True, open_world_hint=False)
CHANGES = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True)
REPEATABLE_CHANGES = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True
)
DESTROYS = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=True)


@dataclass(frozen=True)
class ToolSpec:
    """A tool: its function (name, docstring and signature make the MCP tool) and hints."""

    fn: Callable[..., Any]
    annotations: ToolAnnotations


@dataclass(frozen=True)
class Caller:
    deps: Deps
    principal: Principal


def caller() -> Caller:
    """The ports and the authenticated principal for the tool call being served."""
    return Caller(get_deps(), current_principal())
