"""Listening sockets, bound before anything starts.

Every server of the stack gets its socket here first, so all URLs are known before the
template is resolved (functions' environments contain them) and no port can be taken
by someone else between choosing it and listening on it.
"""

from __future__ import annotations

import socket

from vmkit_local.core.errors import LocalStackError


def bind_listener(host: str, port: int = 0) -> socket.socket:
    """A TCP socket listening on `host:port` (port 0: a free one)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise LocalStackError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(128)
    return sock


def port_of(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])
