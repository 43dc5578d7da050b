"""The methods the server can call, and where each one's code lives.

Handler modules are imported on their first call, so an idle agent does not pay for
code it has not needed (the idle-RSS budget is a few MB over the bare interpreter).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class HandlerSpec:
    module: str
    function: str
    # A result too big for one frame is split on this list (see protocol.result_replies).
    split_key: str | None = None

    def load(self) -> Callable[..., Any]:
        return getattr(importlib.import_module(self.module), self.function)


HANDLERS: dict[str, HandlerSpec] = {
    "register": HandlerSpec("vmkit_agent.handlers.register", "register"),
    "harden": HandlerSpec("vmkit_agent.handlers.harden", "harden"),
    "logs_fetch": HandlerSpec("vmkit_agent.handlers.logs", "logs_fetch", split_key="lines"),
    "metrics_collect": HandlerSpec("vmkit_agent.handlers.metrics", "metrics_collect"),
    "agent_upgrade": HandlerSpec("vmkit_agent.handlers.upgrade", "agent_upgrade"),
    "diagnose": HandlerSpec("vmkit_agent.handlers.diagnose", "diagnose"),
    "rotate_token": HandlerSpec("vmkit_agent.handlers.token", "rotate_token"),
}


def preload_all() -> None:
    """Import every handler now. The upgrade calls this before it replaces the agent
    file: a zipapp's modules are read from the archive on first import, and after the
    rename that archive is the new version."""
    for spec in HANDLERS.values():
        spec.load()
