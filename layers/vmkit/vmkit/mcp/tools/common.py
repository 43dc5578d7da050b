"""What every tool shares: argument types with their constraints, and the caller.

Argument types carry a description and the constraint a caller must meet (an id's
prefix and shape, a range), so both land in the tool's JSON schema and a wrong
argument is refused before any service runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from mcp.types import ToolAnnotations
from pydantic import Field

from vmkit.auth import Principal
from vmkit.deps import Deps, get_deps
from vmkit.ids import PREFIXES, id_pattern
from vmkit.mcp.auth import current_principal


def _id(kind: str) -> object:
    what = kind.replace("_", " ").capitalize()
    return Field(
        pattern=id_pattern(kind),
        description=f"{what} id: '{PREFIXES[kind]}_' followed by 26 characters.",
    )


EnvironmentId = Annotated[str, _id("environment")]
RepoId = Annotated[str, _id("repo")]
TargetId = Annotated[str, _id("compute_target")]
DeployId = Annotated[str, _id("deploy")]
Limit = Annotated[int, Field(ge=1, le=100, description="Page size, 1 to 100.")]
Cursor = Annotated[
    str | None,
    Field(max_length=2048, description="next_cursor of the previous page, to get the next one."),
]

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
