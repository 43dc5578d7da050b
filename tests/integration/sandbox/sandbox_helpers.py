"""Helpers for the sandbox tests: the user data VMKit renders, servers the VM talks to, apps.

A module of its own (not conftest) so test files import it by a name unique in the repo.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from vmkit.cloudinit import render_user_data as vmkit_user_data
from vmkit_local.sandbox import SandboxFleet

FIXTURES = Path(__file__).parent / "fixtures"
AGENT_TOKEN = "vmka_tok123_s3cr3tvalue"
APP_HOST = "hello-production.localhost"


def agent_env(gateway_url: str) -> str:
    return (
        f"VMKIT_AGENT_TOKEN={AGENT_TOKEN}\nVMKIT_GATEWAY_URL={gateway_url}\n"
        "VMKIT_INSTANCE_ID=inst-1\nVMKIT_LOG_LEVEL=info\n"
    )


def render_user_data(
    agent_url: str, agent_sha256: str, gateway_url: str = "ws://127.0.0.1:9/ws", **overrides: Any
) -> str:
    """VMKit's own user data (vmkit.cloudinit), with top-level keys replaced for a test."""
    rendered = vmkit_user_data(
        agent_token=AGENT_TOKEN,
        gateway_url=gateway_url,
        instance_id="inst-1",
        agent_download_url=agent_url,
        agent_sha256=agent_sha256 if len(agent_sha256) == 64 else "0" * 64,
    )
    config = yaml.safe_load(rendered)
    config.update(overrides)
    return "#cloud-config\n" + yaml.safe_dump(config, sort_keys=False)


@dataclass
class FileServer:
    """Loopback HTTP server for downloads; `responses` can queue error statuses first."""

    files: dict[str, bytes]
    responses: dict[str, list[int]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    requested: threading.Event = field(default_factory=threading.Event)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


class Gateway:
    """Where fixture agents dial in: each start of an agent is one accepted connection."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"ws://127.0.0.1:{self._server.getsockname()[1]}/ws"
        self._connections: list[socket.socket] = []

    def next_agent(self, timeout: float = 10.0) -> dict[str, Any]:
        """Block until an agent dials in; return how it was started."""
        self._server.settimeout(timeout)
        connection, _ = self._server.accept()
        self._connections.append(connection)
        connection.settimeout(timeout)
        return json.loads(connection.makefile().readline())

    def close(self) -> None:
        for connection in self._connections:
            connection.close()
        self._server.close()


@dataclass
class DeployKey:
    private_openssh: str
    public_openssh: str


def new_deploy_key() -> DeployKey:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return DeployKey(private, public.decode())


def harden(root: Path, public_key: str, user: str = "kamal", docker_group: bool = True) -> None:
    """What the agent's `harden` leaves on the VM: a deploy user that may log in and use docker."""
    with (root / "etc/passwd").open("a") as passwd:
        passwd.write(f"{user}:x:1000:1000::/home/{user}:/bin/bash\n")
    if docker_group:
        group = (root / "etc/group").read_text().splitlines()
        group = [f"{line}{user}" if line.startswith("docker:") else line for line in group]
        (root / "etc/group").write_text("\n".join(group) + "\n")
    ssh_dir = root / "home" / user / ".ssh"
    ssh_dir.mkdir(parents=True, mode=0o700)
    (ssh_dir / "authorized_keys").write_text(f"{public_key} vmkit-deploy\n")
    (ssh_dir / "authorized_keys").chmod(0o600)


@dataclass
class DeployTarget:
    fleet: SandboxFleet
    ip: str
    root: Path
    key: DeployKey

    @property
    def secrets(self) -> dict[str, str]:
        return {
            "VMKIT_SSH_PRIVATE_KEY": self.key.private_openssh,
            "KAMAL_REGISTRY_PASSWORD": "ghs_registrytoken0001",
            "SECRET_KEY_BASE": "sk_live_abcdef123456",
        }

    def resolve_vm(self, host: str) -> Path | None:
        return self.fleet.root_for_ip(host)


def deploy_config(ip: str, **overrides: Any) -> dict[str, Any]:
    """A config/deploy.yml as VMKit's generator writes it (Kamal 2)."""
    config: dict[str, Any] = {
        "service": "hello",
        "image": "acme/hello",
        "servers": {"web": {"hosts": [ip]}},
        "proxy": {"host": APP_HOST, "app_port": 8000, "healthcheck": {"path": "/up"}},
        "registry": {
            "server": "ghcr.io",
            "username": "acme",
            "password": ["KAMAL_REGISTRY_PASSWORD"],
        },
        "builder": {"arch": "arm64"},
        "ssh": {"user": "kamal"},
        "env": {"clear": {"GREETING": "hi"}, "secret": ["SECRET_KEY_BASE"]},
        "deploy_timeout": 10,
        "drain_timeout": 5,
    }
    config.update(overrides)
    return config


def write_app(
    checkout: Path, version: str, config: dict[str, Any], health_status: int = 200
) -> Path:
    """(Re)write a checkout of the fixture app at `version` with `config` as deploy.yml."""
    if checkout.exists():
        shutil.rmtree(checkout)
    shutil.copytree(FIXTURES / "app", checkout)
    (checkout / "VERSION").write_text(f"{version}\n")
    if health_status != 200:
        (checkout / "HEALTH").write_text(str(health_status))
    (checkout / "config").mkdir()
    (checkout / "config/deploy.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    (checkout / ".kamal").mkdir()
    (checkout / ".kamal/secrets").write_text(
        "KAMAL_REGISTRY_PASSWORD=$KAMAL_REGISTRY_PASSWORD\nSECRET_KEY_BASE=$SECRET_KEY_BASE\n"
    )
    return checkout


def process_alive(pid: int) -> bool:
    """True if `pid` runs (a zombie waiting to be reaped by someone else does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Wait for a condition of an outside process that offers no event to block on."""
    deadline = threading.Event()
    timer = threading.Timer(timeout, deadline.set)
    timer.start()
    try:
        while not predicate():
            if deadline.wait(0.02):
                return predicate()
        return True
    finally:
        timer.cancel()
