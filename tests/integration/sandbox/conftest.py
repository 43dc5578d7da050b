"""Fixtures for the sandbox: a fleet, an agent download server, a deploy target, the router."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sandbox_helpers import (
    APP_HOST,
    FIXTURES,
    DeployTarget,
    FileServer,
    Gateway,
    harden,
    new_deploy_key,
    render_user_data,
)

from vmkit_local.sandbox import AppRouter, RouterServer, SandboxFleet


@pytest.fixture
def file_server() -> Iterator[FileServer]:
    served = FileServer(files={"/vmkit-agent": (FIXTURES / "agent.py").read_bytes()})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.requests.append(self.path)
            served.requested.set()
            queued = served.responses.get(self.path)
            status = queued.pop(0) if queued else (200 if self.path in served.files else 404)
            body = served.files.get(self.path, b"") if status == 200 else b"error"
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield served
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def agent_sha256(file_server: FileServer) -> str:
    return hashlib.sha256(file_server.files["/vmkit-agent"]).hexdigest()


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    server = Gateway()
    yield server
    server.close()


@pytest.fixture
def user_data(file_server: FileServer, agent_sha256: str, gateway: Gateway) -> str:
    return render_user_data(file_server.url("/vmkit-agent"), agent_sha256, gateway.url)


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[SandboxFleet]:
    with SandboxFleet(tmp_path / "data", time_scale=0.01, container_stop_timeout=2) as sandbox:
        yield sandbox


@pytest.fixture
def target(fleet: SandboxFleet) -> DeployTarget:
    """A booted, hardened VM that a deploy can reach."""
    ip = fleet.boot("web1", "hello-production", "#cloud-config\npackages: [docker.io]\n")
    assert fleet.wait_for_cloud_init("web1").ok
    root = fleet.root("web1")
    key = new_deploy_key()
    harden(root, key.public_openssh)
    return DeployTarget(fleet, ip, root, key)


@pytest.fixture
def router(target: DeployTarget) -> Iterator[RouterServer]:
    """The app router, with DNS holding one A record: the app's host → the target VM."""
    records = {APP_HOST: target.ip}
    with RouterServer(AppRouter(records.get, target.fleet.root_for_ip)) as server:
        yield server
