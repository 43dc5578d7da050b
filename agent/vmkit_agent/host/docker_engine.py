"""A small Docker Engine API client over the unix socket, standard library only.

The paths are unversioned so the daemon answers in its own API version: Docker 29
refuses clients pinned below API 1.44, while Debian 12's docker.io speaks 1.41.
"""

from __future__ import annotations

import http.client
import json
import socket
import struct
from typing import Any
from urllib.parse import quote, urlencode

from vmkit_agent.errors import DockerUnavailable, NotFound
from vmkit_agent.host.base import Container, LogLine, normalize_health

DOCKER_SOCKET = "/var/run/docker.sock"


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class DockerEngine:
    def __init__(self, socket_path: str = DOCKER_SOCKET, *, timeout: float = 15.0):
        self.socket_path = socket_path
        self.timeout = timeout

    def _get(self, path: str, query: dict[str, Any] | None = None) -> tuple[int, bytes]:
        target = path + (f"?{urlencode(query)}" if query else "")
        conn = _UnixHTTPConnection(self.socket_path, self.timeout)
        try:
            conn.request("GET", target, headers={"Host": "docker"})
            response = conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise DockerUnavailable(
                f"cannot reach the Docker daemon at {self.socket_path}: {exc}"
            ) from None
        finally:
            conn.close()

    def _json(self, path: str, query: dict[str, Any] | None = None) -> Any:
        status, body = self._get(path, query)
        if status >= 400:
            raise DockerUnavailable(f"Docker answered {status} to GET {path}: {_message(body)}")
        return json.loads(body)

    def version(self) -> dict[str, Any]:
        return self._json("/version")

    def inspect(self, name: str) -> dict[str, Any]:
        status, body = self._get(f"/containers/{quote(name, safe='')}/json")
        if status == 404:
            raise NotFound(f"no container named {name!r} on this VM")
        if status >= 400:
            raise DockerUnavailable(
                f"Docker answered {status} inspecting {name!r}: {_message(body)}"
            )
        return json.loads(body)

    def containers(self, *, include_stopped: bool = False) -> list[Container]:
        listed = self._json("/containers/json", {"all": "1" if include_stopped else "0"})
        found = []
        for summary in listed:
            try:
                details = self.inspect(summary["Id"])
            except NotFound:  # removed between the list and the inspect
                continue
            state = details.get("State") or {}
            found.append(
                Container(
                    name=details.get("Name", "").lstrip("/") or summary["Id"][:12],
                    image=(details.get("Config") or {}).get("Image") or summary.get("Image", ""),
                    state=state.get("Status", "unknown"),
                    health=normalize_health((state.get("Health") or {}).get("Status")),
                )
            )
        return found

    def logs(self, name: str, lines: int) -> list[LogLine]:
        tty = bool((self.inspect(name).get("Config") or {}).get("Tty"))
        status, body = self._get(
            f"/containers/{quote(name, safe='')}/logs",
            {"stdout": "1", "stderr": "1", "timestamps": "1", "tail": str(lines)},
        )
        if status == 404:
            raise NotFound(f"no container named {name!r} on this VM")
        if status >= 400:
            raise DockerUnavailable(
                f"Docker answered {status} to the logs of {name!r}: {_message(body)}"
            )
        raw = body if tty else demultiplex(body)
        return [parse_log_line(line) for line in raw.decode("utf-8", "replace").splitlines()]


def demultiplex(stream: bytes) -> bytes:
    """Join the payloads of Docker's multiplexed stdout/stderr stream, in order.

    Without a TTY each record is an 8-byte header (stream type, 3 zero bytes, big-endian
    payload length) followed by the payload.
    """
    out = bytearray()
    offset = 0
    while offset + 8 <= len(stream):
        (length,) = struct.unpack_from(">I", stream, offset + 4)
        out += stream[offset + 8 : offset + 8 + length]
        offset += 8 + length
    return bytes(out)


def parse_log_line(line: str) -> LogLine:
    """`<RFC 3339 timestamp> <text>`, as Docker writes with timestamps=1 (and the
    sandbox's container log files copy)."""
    ts, sep, text = line.partition(" ")
    if sep and ts[:4].isdigit() and "T" in ts:
        return LogLine(ts, text)
    return LogLine(None, line)


def _message(body: bytes) -> str:
    try:
        return str(json.loads(body).get("message", "")) or body[:200].decode("utf-8", "replace")
    except (ValueError, AttributeError):
        return body[:200].decode("utf-8", "replace")
