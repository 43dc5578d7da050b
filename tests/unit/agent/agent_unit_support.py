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
