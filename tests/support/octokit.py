"""GitHub's own webhook payload examples (`@octokit/webhooks-examples`, in `tools/`)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

EXAMPLES = (
    Path(__file__).resolve().parents[2]
    / "tools/node_modules/@octokit/webhooks-examples/api.github.com/index.json"
)


@cache
def _examples() -> list[dict[str, Any]]:
    return json.loads(EXAMPLES.read_text())


def octokit_examples(event: str, action: str | None = None) -> list[dict[str, Any]]:
    """Every example of `event` (with `action`, if given); some actions have several,
    with and without optional fields."""
    for entry in _examples():
        if entry["name"] == event:
            found = [e for e in entry["examples"] if action in (None, e.get("action"))]
            if found:
                return found
    raise LookupError(f"no example of {event} {action or ''}")


def octokit_example(event: str, action: str) -> dict[str, Any]:
    return octokit_examples(event, action)[0]
