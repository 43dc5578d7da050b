"""The sandbox's kamal-proxy: a routing table in `<root>/var/lib/vmkit-sandbox/proxy.json`.

`{"routes": {"<host>": {"container": "<name>", "port": <int>, "healthcheck": "/up"}}}`.
The deploy writes it (locked, then replaced in one rename) and the app router reads it
on every request, so a switch takes effect for the very next request. A service
deployed without `proxy.host` answers for any host, as kamal-proxy's default route
does; it is stored under the key `*`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from vmkit_local.sandbox.rootfs import atomic_write_json, locked, read_json

PROXY_FILE = "var/lib/vmkit-sandbox/proxy.json"
ANY_HOST = "*"
_TCP_ESTABLISHED = "01"
_DRAIN_POLL_SECONDS = 0.05


def proxy_path(root: Path) -> Path:
    return Path(root) / PROXY_FILE


def ensure_proxy(root: Path) -> bool:
    """`kamal proxy boot`: create an empty routing table; False if it was already there."""
    path = proxy_path(root)
    with locked(path):
        if path.exists():
            return False
        atomic_write_json(path, {"routes": {}})
        return True


def read_routes(root: Path) -> dict[str, dict[str, Any]]:
    return (read_json(proxy_path(root)) or {}).get("routes", {})


def route_for(root: Path, host: str) -> dict[str, Any] | None:
    routes = read_routes(root)
    return routes.get(host) or routes.get(ANY_HOST)


def switch_routes(root: Path, hosts: list[str], route: dict[str, Any]) -> dict[str, str]:
    """Point every host at `route` in one atomic replace; return host → previous container."""
    path = proxy_path(root)
    with locked(path):
        table = read_json(path) or {"routes": {}}
        previous = {
            host: table["routes"][host]["container"] for host in hosts if host in table["routes"]
        }
        for host in hosts:
            table["routes"][host] = route
        atomic_write_json(path, table)
    return previous


def open_connections(port: int) -> int:
    """Established TCP connections to local `port` (what kamal-proxy waits on to drain).

    Read from /proc/net/tcp{,6}; accepted connections and those still waiting in the
    listen backlog both count, so a request the app has not picked up yet is not cut.
    """
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == _TCP_ESTABLISHED:
                count += 1
    return count


def drain(port: int, timeout: float) -> bool:
    """Wait until no request is in flight to `port`, up to `timeout`; True if drained."""
    deadline = time.monotonic() + timeout
    while open_connections(port):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_DRAIN_POLL_SECONDS)
    return True
