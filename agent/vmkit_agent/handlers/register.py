"""`register`: who this agent is. Sent as an event on every connect; the server may
also call it to refresh what it knows."""

from __future__ import annotations

import os
from typing import Any

from vmkit_agent.context import AgentState, HandlerContext
from vmkit_agent.host.base import Host

# Docker's and Kamal's names for the machine architectures the agent meets.
_ARCH_NAMES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}


def arch() -> str:
    machine = os.uname().machine
    return _ARCH_NAMES.get(machine, machine)


def os_name(host: Host) -> str:
    """PRETTY_NAME from os-release, else the kernel's name and release."""
    for line in (host.read_text("/etc/os-release") or "").splitlines():
        key, _, value = line.partition("=")
        if key == "PRETTY_NAME" and value:
            return value.strip().strip('"')
    uname = os.uname()
    return f"{uname.sysname} {uname.release}"


def registration(host: Host, state: AgentState) -> dict[str, Any]:
    return {
        "version": state.version,
        "instance_id": state.instance_id,
        "ip": state.local_ip,
        "os": os_name(host),
        "arch": arch(),
    }


def register(ctx: HandlerContext, params: dict[str, Any]) -> dict[str, Any]:
    return registration(ctx.host, ctx.state)
