"""The guest's network: qemu user networking that reaches only the stack's own ports.

`-netdev user,restrict=on` gives the guest no route anywhere; what it can reach is
exactly the `guestfwd` rules, each a TCP port on one virtual address
(`FORWARD_ADDRESS`) sent to a port on the host's loopback (through `relay.py`, one
process per connection). The control plane's URLs
name the host's loopback (`http://127.0.0.1:<moto>/…` for the agent download,
`ws://127.0.0.1:<gateway>/…` for the agent), so the image carries a systemd generator
that listens on the guest's own 127.0.0.1 at the ports the kernel command line lists
(`vmkit.loopback_ports=`) and hands each connection to `FORWARD_ADDRESS` at the same
port. A guest thus reaches the stack at the very URLs the user data names, and
nothing else: no DNS, no other host, no internet.

Inbound, `hostfwd` rules publish the guest's 22 and 80 on loopback ports of the host:
the deploy path (the simulated Actions runner's SSH) and the app router.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

FORWARD_ADDRESS = "10.0.2.100"  # inside qemu's 10.0.2.0/24 user network
GUEST_SSH_PORT = 22
GUEST_HTTP_PORT = 80


@dataclass(frozen=True)
class Forwards:
    """One guest's ports. `loopback` maps a port the guest dials on its 127.0.0.1 to the
    host port it reaches; they differ only when the stack came back on new ports after
    the guest's user data was written (the guest keeps the URLs it was given)."""

    loopback: Mapping[int, int]
    ssh: int
    http: int

    def netdev(self, netdev_id: str = "n0") -> str:
        rules = [f"user,id={netdev_id},restrict=on"]
        # `cmd:` runs the relay for each connection; `tcp:` would connect only once.
        relay = Path(__file__).with_name("relay.py")
        rules += [
            f"guestfwd=tcp:{FORWARD_ADDRESS}:{guest}-cmd:{sys.executable} -I {relay} {host}"
            for guest, host in sorted(self.loopback.items())
        ]
        rules += [
            f"hostfwd=tcp:127.0.0.1:{self.ssh}-:{GUEST_SSH_PORT}",
            f"hostfwd=tcp:127.0.0.1:{self.http}-:{GUEST_HTTP_PORT}",
        ]
        return ",".join(rules)

    def kernel_argument(self) -> str:
        return "vmkit.loopback_ports=" + ",".join(str(p) for p in sorted(self.loopback))

    def to_json(self) -> dict:
        return {
            "loopback": {str(k): v for k, v in self.loopback.items()},
            "ssh": self.ssh,
            "http": self.http,
        }

    @classmethod
    def from_json(cls, data: Mapping) -> Forwards:
        return cls({int(k): int(v) for k, v in data["loopback"].items()}, data["ssh"], data["http"])


def free_loopback_port() -> int:
    """A port free on 127.0.0.1 now (qemu binds it a moment later; a clash fails the boot)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_of(url: str) -> int:
    """The TCP port of a stack URL on the host's loopback."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost"):
        raise ValueError(f"{url} is not on the host's loopback: a guest cannot be given it")
    return parts.port or {"http": 80, "ws": 80, "https": 443, "wss": 443}[parts.scheme]


# The generator the image carries (see the module docstring). Ports come from the
# kernel command line, which only the launcher writes; anything not a number is skipped.
LOOPBACK_GENERATOR = f"""\
#!/bin/sh
# Written by VMKit's image builder: the local stack's ports on this guest's loopback.
# For each port P in vmkit.loopback_ports= on the kernel command line, listen on
# 127.0.0.1:P and forward every connection to {FORWARD_ADDRESS}:P, which qemu's
# guestfwd sends to the same service on the host's loopback.
set -eu
out="$1"
ports=$(tr ' ' '\\n' < /proc/cmdline | sed -n 's/^vmkit\\.loopback_ports=//p')
[ -n "$ports" ] || exit 0
mkdir -p "$out/sockets.target.wants"
for port in $(echo "$ports" | tr ',' ' '); do
  case "$port" in *[!0-9]*|'') continue ;; esac
  printf '[Unit]\\nDescription=The VMKit stack port %s on the host loopback\\n\\n[Socket]\\nListenStream=127.0.0.1:%s\\n' \\
    "$port" "$port" > "$out/vmkit-loopback-$port.socket"
  printf '[Unit]\\nDescription=Forward 127.0.0.1:%s to the host\\n\\n[Service]\\nExecStart=/lib/systemd/systemd-socket-proxyd {FORWARD_ADDRESS}:%s\\n' \\
    "$port" "$port" > "$out/vmkit-loopback-$port.service"
  ln -sf "../vmkit-loopback-$port.socket" "$out/sockets.target.wants/vmkit-loopback-$port.socket"
done
"""
