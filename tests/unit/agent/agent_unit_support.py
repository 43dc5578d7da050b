"""Helpers shared by the agent's unit tests (a unique module name: pytest imports test
helpers by their bare name)."""

from __future__ import annotations

import json
from pathlib import Path

from vmkit_agent.host.sandbox import CONTAINERS_DIR


def add_container(
    root: Path, name: str, *, state: str = "running", health: str = "healthy", log: str = ""
) -> None:
    """A container as the local stack describes it under the sandbox root."""
    directory = root / CONTAINERS_DIR.lstrip("/")
    directory.mkdir(parents=True, exist_ok=True)
    record = {
        "name": name,
        "image": f"ghcr.io/acme/{name}:abc123",
        "state": state,
        "health": health,
        "pid": 4242,
        "port": 3000,
        "started_at": "2026-11-23T10:00:00Z",
        "labels": {"service": name},
    }
    (directory / f"{name}.json").write_text(json.dumps(record))
    if log:
        (directory / f"{name}.log").write_text(log)


def deploy_key(comment: str = "vmkit-deploy") -> str:
    """A real OpenSSH ed25519 public key line."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    public = Ed25519PrivateKey.generate().public_key()
    return f"{public.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()} {comment}"


class FileServer:
    """A loopback HTTP server for agent downloads: `serve(path, body)` then `url(path)`."""

    def __init__(self) -> None:
        import http.server
        import threading

        files: dict[str, bytes] = {}
        self.files = files
        self.requests: list[str] = []
        requests = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                requests.append(self.path)
                body = files.get(self.path.split("?")[0])
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def serve(self, path: str, body: bytes) -> str:
        self.files[path] = body
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_port}{path}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
