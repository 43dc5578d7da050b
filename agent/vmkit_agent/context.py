"""What a handler gets to work with. Handlers see the host and the agent's state, never
the configuration, so no handler can reach the agent token."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vmkit_agent.host.base import Host


@dataclass
class AgentState:
    """What the agent knows about itself and its connection (register, heartbeat, diagnose)."""

    version: str
    instance_id: str
    gateway_url: str
    started_monotonic: float = field(default_factory=time.monotonic)
    local_ip: str | None = None
    connected_since: float | None = None  # wall-clock time of the current registration
    connections_opened: int = 0
    clock_skew_s: float | None = None  # local clock minus the gateway's; positive = ahead
    clock_source: str | None = None
    recent_errors: Sequence[dict[str, Any]] = ()
    # (monotonic time, busy jiffies, total jiffies) of the last CPU sample
    cpu_baseline: tuple[float, int, int] | None = None

    def uptime_s(self) -> float:
        return round(time.monotonic() - self.started_monotonic, 3)


async def _no_latency() -> float | None:
    return None


@dataclass
class HandlerContext:
    host: Host
    state: AgentState
    # Round trip of a WebSocket ping to the gateway, in seconds; None if not connected.
    gateway_latency: Callable[[], Awaitable[float | None]] = _no_latency


@dataclass(frozen=True)
class Reply:
    """A handler's result, with what the agent must do once the reply is on the wire."""

    result: dict[str, Any]
    restart_agent: bool = False
    # A new agent token (rotate_token): the agent reconnects with it once the reply is sent.
    new_token: str | None = field(default=None, repr=False)
