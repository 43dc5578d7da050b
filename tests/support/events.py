"""The sample events of `events/`, for tests (the same files `sam local invoke -e` takes)."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[2] / "events"


def load_event(name: str, **changes: Any) -> dict[str, Any]:
    """The event `events/{name}.json`, with top-level keys replaced by `changes`."""
    event = json.loads((EVENTS / f"{name}.json").read_text())
    return {**copy.deepcopy(event), **changes}


def event_names() -> list[str]:
    return sorted(path.stem for path in EVENTS.glob("*.json"))


@dataclass(frozen=True)
class LambdaContext:
    """The attributes of Lambda's `context` that Powertools' logger reads."""

    function_name: str = "test-function"
    memory_limit_in_mb: str = "512"
    invoked_function_arn: str = "arn:aws:lambda:eu-central-1:123456789012:function:test-function"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000
