"""`diagnose`: in one call, what an operator checks first when a VM misbehaves."""

from __future__ import annotations

import asyncio
import os
import platform
import socket
from typing import Any

from vmkit_agent.context import HandlerContext
from vmkit_agent.errors import AgentError
from vmkit_agent.handlers.metrics import memory
from vmkit_agent.handlers.register import arch, os_name
from vmkit_agent.host.base import Host
from vmkit_agent.redact import url_without_secrets


async def diagnose(ctx: HandlerContext, params: dict[str, Any]) -> dict[str, Any]:
    latency = await ctx.gateway_latency()
    report = await asyncio.to_thread(_host_report, ctx)
    state = ctx.state
    report["agent"] = {
        "version": state.version,
        "uptime_s": state.uptime_s(),
        "mode": ctx.host.mode,
        "pid": os.getpid(),
        "python": platform.python_version(),
        "connections_opened": state.connections_opened,
        "connected_since": state.connected_since,
    }
    report["recent_errors"] = list(state.recent_errors)
    report["clock"] = {"skew_s": state.clock_skew_s, "source": state.clock_source}
    report["gateway"] = {
        "url": url_without_secrets(state.gateway_url),
        "latency_ms": None if latency is None else round(latency * 1000, 1),
    }
    return report


def _host_report(ctx: HandlerContext) -> dict[str, Any]:
    host = ctx.host
    report: dict[str, Any] = {
        "host": {
            "hostname": socket.gethostname(),
            "os": os_name(host),
            "kernel": os.uname().release,
            "arch": arch(),
            "uptime_s": _guard(lambda: float(host.read_proc("uptime").split()[0])),
        },
    }
    try:
        report["docker"] = host.docker_status()
    except AgentError as exc:
        report["docker"] = {"status": "unreachable", "error": exc.message}
    try:
        report["containers"] = [c.to_dict() for c in host.containers(include_stopped=True)]
    except AgentError as exc:
        report["containers"] = {"error": exc.message}
    report["disk"] = _guard(lambda: _disk(host))
    report["memory"] = _guard(lambda: memory(host))
    return report


def _disk(host: Host) -> dict[str, Any]:
    usage = host.disk_usage()
    return {
        "total_bytes": usage.total_bytes,
        "used_bytes": usage.used_bytes,
        "free_bytes": usage.free_bytes,
        "pct": usage.pct,
    }


def _guard(read: Any) -> Any:
    try:
        return read()
    except (OSError, ValueError, KeyError, IndexError) as exc:
        return {"error": str(exc)}
