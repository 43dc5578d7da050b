"""Helpers for the agent's integration tests (a unique module name: pytest imports test
helpers by their bare name)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from vmkit_agent.client import Agent
from vmkit_agent.config import AgentConfig
from vmkit_agent.host.base import Host
from vmkit_agent.host.sandbox import CONTAINERS_DIR, SandboxHost

TOKEN = "vmka_itest_s3cr3tvalue"
INSTANCE_ID = "ins_itest"


def make_root(base: Path) -> Path:
    root = base / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (root / "etc/group").write_text("root:x:0:\ndocker:x:998:\n")
    (root / "etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
    return root


def add_container(root: Path, name: str, log_lines: list[str]) -> None:
    directory = root / CONTAINERS_DIR.lstrip("/")
    directory.mkdir(parents=True, exist_ok=True)
    state = {"name": name, "image": "app:1", "state": "running", "health": "healthy"}
    (directory / f"{name}.json").write_text(json.dumps(state))
    (directory / f"{name}.log").write_text("".join(f"{line}\n" for line in log_lines))


@contextlib.asynccontextmanager
async def running_agent(
    gateway_url: str, root: Path, *, host: Host | None = None, **settings: Any
) -> AsyncIterator[Agent]:
    """An agent in this event loop; stopped (and awaited) when the block ends."""
    settings = {
        "heartbeat_seconds": 30.0,
        "backoff_base_seconds": 0.05,
        "backoff_max_seconds": 0.4,
        **settings,
    }
    config = AgentConfig(
        token=TOKEN, gateway_url=gateway_url, instance_id=INSTANCE_ID, root=root, **settings
    )
    agent = Agent(config, host or SandboxHost(root))
    task = asyncio.create_task(agent.run())
    try:
        yield agent
    finally:
        agent.stop()
        await asyncio.wait_for(task, 15)


def deploy_public_key() -> str:
    """A real OpenSSH ed25519 public key line, as harden takes."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    public = Ed25519PrivateKey.generate().public_key()
    return f"{public.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()} vmkit-deploy"
