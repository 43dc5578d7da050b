"""Agent configuration, read once from the environment (systemd fills it from
/etc/vmkit/agent.env). Every problem is reported with the variable's name and never
with the token's value."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

LOG_LEVELS = ("debug", "info", "warning", "error")
# API Gateway closes a WebSocket after 10 idle minutes; a heartbeat interval above
# this leaves too little room for a slow send.
IDLE_LIMIT_MARGIN_SECONDS = 540.0

_TOKEN_SHAPE = re.compile(r"vmka_[A-Za-z0-9_-]+")
_INSTANCE_ID_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class ConfigError(Exception):
    """The environment cannot run an agent; the message names the variable to fix."""


@dataclass(frozen=True)
class AgentConfig:
    token: str = field(repr=False)
    gateway_url: str
    instance_id: str
    log_level: str = "info"
    root: Path = Path("/")
    heartbeat_seconds: float = 240.0
    max_connection_seconds: float = 6600.0
    # Reconnect backoff: full jitter over base·2^attempt, capped. Not in the
    # environment contract; tests construct a config with smaller values.
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 60.0

    @property
    def sandbox(self) -> bool:
        return self.root != Path("/")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AgentConfig:
        token = _required(env, "VMKIT_AGENT_TOKEN")
        if not _TOKEN_SHAPE.fullmatch(token):
            raise ConfigError(
                "VMKIT_AGENT_TOKEN does not look like an agent token (expected vmka_<id>_<secret>)"
            )
        gateway_url = _required(env, "VMKIT_GATEWAY_URL")
        if not gateway_url.startswith(("ws://", "wss://")) or any(c.isspace() for c in gateway_url):
            raise ConfigError(
                f"VMKIT_GATEWAY_URL must be a ws:// or wss:// URL, got {gateway_url!r}"
            )
        instance_id = _required(env, "VMKIT_INSTANCE_ID")
        if not _INSTANCE_ID_SHAPE.fullmatch(instance_id):
            raise ConfigError(f"VMKIT_INSTANCE_ID is not a valid instance id: {instance_id!r}")
        log_level = env.get("VMKIT_LOG_LEVEL", "info").strip().lower() or "info"
        if log_level not in LOG_LEVELS:
            raise ConfigError(f"VMKIT_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
        root = Path(env.get("VMKIT_ROOT", "/") or "/").resolve()
        if not root.is_dir():
            raise ConfigError(f"VMKIT_ROOT {str(root)!r} is not a directory")
        return cls(
            token=token,
            gateway_url=gateway_url,
            instance_id=instance_id,
            log_level=log_level,
            root=root,
            heartbeat_seconds=_seconds(env, "VMKIT_HEARTBEAT_SECONDS", 240.0),
            max_connection_seconds=_seconds(env, "VMKIT_MAX_CONNECTION_SECONDS", 6600.0),
        )


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set (systemd reads it from /etc/vmkit/agent.env)")
    return value


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value
