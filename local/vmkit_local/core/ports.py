"""Ports kept in the data directory, so a restarted stack answers where it did before.

Agents on existing VMs were given the WebSocket gateway's URL when their VM was made,
deploys store their app's URL, GitHub keeps the webhook URL: a stack that came back on
new random ports would strand all of them. So the first start picks free ports and
writes them to `ports.json`; every later start listens on the same ones. A port that
is taken is reported by number, with the process holding it when that can be seen,
and how to free it; the stack never silently moves to another port.
"""

from __future__ import annotations

import errno
import json
import os
import socket
from pathlib import Path

from vmkit_local.core.errors import LocalStackError
from vmkit_local.core.listeners import bind_listener, port_of
from vmkit_local.files import write_atomically


class PortBook:
    """Named ports, chosen once and reused; `path` None keeps nothing (ports are free)."""

    def __init__(self, path: Path | None):
        self.path = path
        self._ports: dict[str, int] = self._read() if path else {}

    def _read(self) -> dict[str, int]:
        assert self.path is not None
        if not self.path.exists():
            return {}
        try:
            saved = json.loads(self.path.read_text())
            return {str(name): int(port) for name, port in saved.items()}
        except (ValueError, TypeError, AttributeError) as exc:
            raise LocalStackError(
                f"{self.path} is corrupt ({exc}); fix it, or delete it to pick new ports "
                "(agents on existing VMs then cannot find the stack until their VMs are reset)"
            ) from exc

    def listen(self, name: str, host: str, requested: int = 0) -> socket.socket:
        """A listening socket for `name`: on `requested` if given, else on its kept port."""
        port = requested or self._ports.get(name, 0)
        try:
            sock = bind_listener(host, port)
        except LocalStackError as exc:
            if not port or not isinstance(exc.__cause__, OSError):
                raise
            if exc.__cause__.errno != errno.EADDRINUSE:
                raise
            raise LocalStackError(self._taken(name, host, port, kept=not requested)) from None
        if self.path is not None and self._ports.get(name) != port_of(sock):
            self._ports[name] = port_of(sock)
            write_atomically(self.path, json.dumps(self._ports, indent=2, sort_keys=True) + "\n")
        return sock

    def _taken(self, name: str, host: str, port: int, *, kept: bool) -> str:
        holder = listening_process(port)
        who = f"pid {holder[0]} ({holder[1]})" if holder else "another process"
        free = (
            f"stop it (kill {holder[0]})"
            if holder
            else f"find it with `ss -ltnp 'sport = :{port}'`"
        )
        message = f"port {port} for {name} on {host} is taken by {who}: {free}"
        if kept:
            message += (
                f", or remove {name!r} from {self.path} to move it (agents on existing VMs "
                "only know the old port)"
            )
        return message


def listening_process(port: int) -> tuple[int, str] | None:
    """(pid, command line) of the process listening on TCP `port`, if this user can see it."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if (
                len(fields) > 9
                and fields[3] == "0A"
                and int(fields[1].rsplit(":", 1)[1], 16) == port
            ):
                inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return None
    for process in Path("/proc").iterdir():
        if not process.name.isdigit():
            continue
        try:
            for descriptor in (process / "fd").iterdir():
                if os.readlink(descriptor) in inodes:
                    command = (process / "cmdline").read_bytes().replace(b"\0", b" ").strip()
                    return int(process.name), command.decode(errors="replace")[:120]
        except OSError:
            continue
    return None
