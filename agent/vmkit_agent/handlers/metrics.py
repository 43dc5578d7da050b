"""`metrics_collect`, also the payload of every heartbeat: CPU, memory, disk, and the
running containers with their health."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from vmkit_agent.context import AgentState, HandlerContext
from vmkit_agent.errors import AgentError
from vmkit_agent.host.base import Host

# A CPU sample shorter than this is too noisy to report on its own; successive calls
# inside it keep measuring from the same, older baseline.
MIN_CPU_WINDOW_SECONDS = 1.0


def metrics_collect(ctx: HandlerContext, params: dict[str, Any]) -> dict[str, Any]:
    return collect(ctx.host, ctx.state)


def collect(host: Host, state: AgentState) -> dict[str, Any]:
    """Every figure is gathered on its own: Docker being down must not hide memory."""
    errors: list[str] = []
    metrics: dict[str, Any] = {
        "cpu_pct": _guard(errors, "cpu", lambda: cpu_pct(host, state)),
        "mem_pct": _guard(errors, "memory", lambda: memory(host)["pct"]),
        "disk_pct": _guard(errors, "disk", lambda: host.disk_usage().pct),
        "container_count": None,
        "container_health": {},
    }
    containers = _guard(errors, "containers", host.containers)
    if containers is not None:
        metrics["container_count"] = len(containers)
        metrics["container_health"] = {c.name: c.health for c in containers}
    metrics["collected_at"] = now_rfc3339()
    if errors:
        metrics["errors"] = errors
    return metrics


def cpu_pct(host: Host, state: AgentState) -> float:
    """Busy share of all CPUs since the previous sample (since boot on the very first)."""
    now = time.monotonic()
    busy, total = cpu_times(host.read_proc("stat"))
    base = state.cpu_baseline
    if base is None:
        state.cpu_baseline = (now, busy, total)
        delta_busy, delta_total = busy, total
    else:
        delta_busy, delta_total = busy - base[1], total - base[2]
        if now - base[0] >= MIN_CPU_WINDOW_SECONDS:
            state.cpu_baseline = (now, busy, total)
    return round(100.0 * delta_busy / delta_total, 1) if delta_total > 0 else 0.0


def cpu_times(stat: str) -> tuple[int, int]:
    """(busy, total) jiffies from the aggregate `cpu` line of /proc/stat. Guest time is
    already counted in user time, so only the first eight fields add up."""
    for line in stat.splitlines():
        if line.startswith("cpu "):
            fields = [int(v) for v in line.split()[1:9]]
            idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
            return sum(fields) - idle, sum(fields)
    raise ValueError("no aggregate cpu line in /proc/stat")


def memory(host: Host) -> dict[str, Any]:
    """Used = MemTotal - MemAvailable: what programs could not get without swapping."""
    values = {}
    for line in host.read_proc("meminfo").splitlines():
        key, _, rest = line.partition(":")
        if key in ("MemTotal", "MemAvailable"):
            values[key] = int(rest.split()[0]) * 1024
    total, available = values["MemTotal"], values["MemAvailable"]
    pct = round(100.0 * (total - available) / total, 1) if total else 0.0
    return {"total_bytes": total, "available_bytes": available, "pct": pct}


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _guard(errors: list[str], what: str, read: Any) -> Any:
    try:
        return read()
    except AgentError as exc:
        errors.append(f"{what}: {exc.message}")
    except (OSError, ValueError, KeyError) as exc:
        errors.append(f"{what}: {exc}")
    return None
