"""The host inside a directory that stands in for `/` (tests and the local stack).

Files land under the root. What needs a real machine is emulated so its result can be
inspected: accounts are edited in `<root>/etc/passwd|group|shadow`, sshd and the
firewall get their files but nothing is reloaded, containers are the local stack's
processes described in `<root>/var/lib/vmkit-sandbox/containers/`, and restarting the
agent re-executes the installed agent file, since there is no systemd.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vmkit_agent.errors import NotFound
from vmkit_agent.host import accounts
from vmkit_agent.host.base import CONTAINER_NAME, Container, Host, LogLine, normalize_health
from vmkit_agent.host.docker_engine import parse_log_line

FIREWALL_PATH = "/etc/vmkit/firewall.nft"
CONTAINERS_DIR = "/var/lib/vmkit-sandbox/containers"
_TAIL_BLOCK = 64 * 1024

log = logging.getLogger(__name__)


class SandboxHost(Host):
    mode = "sandbox"

    def _set_owner(self, path: Path, owner: str | None) -> bool:
        # Sandbox users exist only in <root>/etc/passwd; their ids may belong to
        # someone else on this machine, so files keep the agent's own owner.
        return False

    def ensure_user(self, name: str, *, groups: Sequence[str]) -> list[str]:
        etc = self.path("/etc")
        changes = []
        known = accounts.read_groups(etc)
        for group in groups:
            if group not in known:
                accounts.add_group(etc, group)
                changes.append(f"created group {group}")
        user = accounts.read_users(etc).get(name)
        if user is None:
            user = accounts.add_user(etc, name, groups=list(groups))
            changes.append(f"created user {name} (groups: {', '.join(groups)})")
        else:
            known = accounts.read_groups(etc)
            missing = [g for g in groups if not accounts.in_group(user, known[g])]
            if missing:
                accounts.add_to_groups(etc, name, missing)
                changes.append(f"added {name} to {', '.join(missing)}")
        home = self.ensure_dir(user.home, mode=0o750)
        return [*changes, home] if home else changes

    def apply_sshd_dropin(self, absolute: str, content: str) -> list[str]:
        change = self.write_file(absolute, content, mode=0o644)
        return [f"{change} (sandbox: sshd not reloaded)"] if change else []

    def apply_firewall(self, ruleset: str) -> list[str]:
        change = self.write_file(FIREWALL_PATH, ruleset, mode=0o600)
        return [f"{change} (sandbox: rules not loaded)"] if change else []

    def docker_status(self) -> dict[str, Any]:
        return {"status": "running", "engine": "vmkit-sandbox", "containers_dir": CONTAINERS_DIR}

    def containers(self, *, include_stopped: bool = False) -> list[Container]:
        found = []
        for state_file in sorted(self.path(CONTAINERS_DIR).glob("*.json")):
            try:
                state = json.loads(state_file.read_text(encoding="utf-8"))
                container = Container(
                    name=str(state["name"]),
                    image=str(state.get("image", "")),
                    state=str(state.get("state", "exited")),
                    health=normalize_health(state.get("health")),
                )
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("ignoring unreadable container state %s: %s", state_file.name, exc)
                continue
            if include_stopped or container.state == "running":
                found.append(container)
        return found

    def container_logs(self, name: str, lines: int) -> list[LogLine]:
        base = self.path(CONTAINERS_DIR)
        if not CONTAINER_NAME.fullmatch(name) or not (base / f"{name}.json").is_file():
            raise NotFound(f"no container named {name!r} on this VM")
        log_file = base / f"{name}.log"
        if not log_file.is_file():
            return []
        return [parse_log_line(line) for line in tail_lines(log_file, lines)]

    def read_proc(self, name: str) -> str:
        """A fake root may pin /proc values (tests); otherwise the machine's own."""
        pinned = self.path(f"/proc/{name}")
        return pinned.read_text(encoding="ascii") if pinned.is_file() else super().read_proc(name)

    def restart_agent(self) -> None:
        argv = [sys.executable, *_interpreter_flags(), str(self.agent_path)]
        log.info("re-executing %s", self.agent_path)
        for handler in logging.getLogger().handlers:
            handler.flush()
        os.execv(sys.executable, argv)  # noqa: S606 (argv form; replaces this process)


def _interpreter_flags() -> list[str]:
    """The flags this interpreter was started with (-I, -S, -X dev …), so the new
    agent runs under the same conditions."""
    flags: list[str] = []
    original = iter(sys.orig_argv[1:])
    for arg in original:
        if arg in ("-m", "-c") or not arg.startswith("-"):
            break
        flags.append(arg)
        if arg in ("-X", "-W"):
            flags.append(next(original, ""))
    return flags


def tail_lines(path: Path, count: int) -> list[str]:
    """The last `count` lines of a file, reading backwards so a large log costs only
    the blocks that hold those lines."""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        position = handle.tell()
        data = b""
        while position > 0 and data.count(b"\n") <= count:
            step = min(_TAIL_BLOCK, position)
            position -= step
            handle.seek(position)
            data = handle.read(step) + data
    return data.decode("utf-8", "replace").splitlines()[-count:]
