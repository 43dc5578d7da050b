"""The one interface through which the agent touches its machine.

Handlers never call subprocess, open system files or talk to Docker directly: they ask
a `Host`. `LinuxHost` does the real thing on a VM; `SandboxHost` acts under a directory
standing in for `/` (tests, the local stack) and emulates what cannot happen there.
Files are shared by both: every absolute path is taken relative to `root`, which is `/`
on a VM.
"""

from __future__ import annotations

import os
import re
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

AGENT_PATH = "/usr/local/bin/vmkit-agent"
AGENT_CHECKSUM_PATH = "/etc/vmkit/agent.sha256"
HEALTH_STATES = ("healthy", "unhealthy", "starting", "none")
# Docker's rule for container names; it also keeps names safe to use in file paths.
CONTAINER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


@dataclass(frozen=True)
class Container:
    name: str
    image: str
    state: str  # Docker's State: running, exited, restarting …
    health: str  # one of HEALTH_STATES

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "image": self.image, "state": self.state, "health": self.health}


@dataclass(frozen=True)
class LogLine:
    ts: str | None  # RFC 3339, as the container runtime recorded it
    text: str


@dataclass(frozen=True)
class DiskUsage:
    total_bytes: int
    used_bytes: int
    free_bytes: int

    @property
    def pct(self) -> float:
        # df's Use%: used / (used + available to unprivileged users).
        usable = self.used_bytes + self.free_bytes
        return round(100.0 * self.used_bytes / usable, 1) if usable else 0.0


def normalize_health(value: Any) -> str:
    return value if value in HEALTH_STATES else "none"


class Host(ABC):
    mode: str  # "linux" or "sandbox", reported by diagnose

    def __init__(self, root: Path):
        self.root = root

    # Files (shared) ------------------------------------------------------------

    def path(self, absolute: str) -> Path:
        """Where the machine's `absolute` path lives for this host."""
        if not absolute.startswith("/"):
            raise ValueError(f"expected an absolute path, got {absolute!r}")
        return self.root / absolute.lstrip("/")

    @property
    def agent_path(self) -> Path:
        return self.path(AGENT_PATH)

    def read_text(self, absolute: str) -> str | None:
        try:
            return self.path(absolute).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def write_file(
        self, absolute: str, content: str, *, mode: int, owner: str | None = None
    ) -> str | None:
        """Make the file hold `content` with `mode` (and `owner`), atomically.

        Returns what changed, or None when the file was already right, so callers can
        report honest `changes` and stay idempotent.
        """
        target = self.path(absolute)
        if self.read_text(absolute) != content:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(content)
                    handle.flush()
                    os.fchmod(handle.fileno(), mode)
                    os.fsync(handle.fileno())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            self._set_owner(target, owner)
            return f"wrote {absolute}"
        return self._settle(target, absolute, mode, owner)

    def ensure_dir(self, absolute: str, *, mode: int, owner: str | None = None) -> str | None:
        target = self.path(absolute)
        if not target.is_dir():
            target.mkdir(parents=True, mode=mode)
            target.chmod(mode)  # mkdir's mode is filtered by the umask
            self._set_owner(target, owner)
            return f"created {absolute}"
        return self._settle(target, absolute, mode, owner)

    def _settle(self, target: Path, absolute: str, mode: int, owner: str | None) -> str | None:
        """Bring an existing path to `mode` and `owner`; say what changed, if anything."""
        notes = []
        if target.stat().st_mode & 0o7777 != mode:
            target.chmod(mode)
            notes.append(f"mode {mode:04o}")
        if owner and self._set_owner(target, owner):
            notes.append(f"owner {owner}")
        return f"set {' and '.join(notes)} on {absolute}" if notes else None

    # Machine facts (shared) ----------------------------------------------------

    def read_proc(self, name: str) -> str:
        with open(f"/proc/{name}", encoding="ascii") as handle:
            return handle.read()

    def disk_usage(self) -> DiskUsage:
        stats = os.statvfs(self.root)
        total = stats.f_blocks * stats.f_frsize
        used = (stats.f_blocks - stats.f_bfree) * stats.f_frsize
        return DiskUsage(total, used, stats.f_bavail * stats.f_frsize)

    # What differs between a VM and a sandbox -----------------------------------

    @abstractmethod
    def _set_owner(self, path: Path, owner: str | None) -> bool:
        """Give `path` to user `owner` (and their primary group); True if it changed."""

    @abstractmethod
    def ensure_user(self, name: str, *, groups: Sequence[str]) -> list[str]:
        """A local user with a locked password, a home, and membership of `groups`."""

    @abstractmethod
    def apply_sshd_dropin(self, absolute: str, content: str) -> list[str]:
        """Install an sshd_config drop-in, validated before sshd reloads it."""

    @abstractmethod
    def apply_firewall(self, ruleset: str) -> list[str]:
        """Install (and on a VM, load and persist) an nftables ruleset."""

    @abstractmethod
    def docker_status(self) -> dict[str, Any]:
        """Whether the container engine answers, and its version."""

    @abstractmethod
    def containers(self, *, include_stopped: bool = False) -> list[Container]:
        """Containers with their state and health; running ones only by default."""

    @abstractmethod
    def container_logs(self, name: str, lines: int) -> list[LogLine]:
        """The last `lines` lines of a container's output; NotFound if there is none."""

    @abstractmethod
    def restart_agent(self) -> None:
        """Replace this process with the agent installed at `agent_path`."""
