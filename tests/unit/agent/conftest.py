"""Fixtures for the agent's unit tests: a fake VM root and a handler context on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmkit_agent.context import AgentState, HandlerContext
from vmkit_agent.host.sandbox import SandboxHost

PASSWD = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
GROUP = "root:x:0:\ndaemon:x:1:\ndocker:x:998:\n"
SHADOW = "root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A directory laid out like a fresh VM after cloud-init: accounts and a docker group."""
    base = tmp_path / "root"
    (base / "etc").mkdir(parents=True)
    (base / "etc/passwd").write_text(PASSWD)
    (base / "etc/group").write_text(GROUP)
    (base / "etc/shadow").write_text(SHADOW)
    (base / "etc/os-release").write_text(
        'NAME="Debian"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'
    )
    return base


@pytest.fixture
def host(root: Path) -> SandboxHost:
    return SandboxHost(root)


@pytest.fixture
def ctx(host: SandboxHost) -> HandlerContext:
    state = AgentState(version="1.2.3", instance_id="i-test", gateway_url="wss://gw.example/agent")
    return HandlerContext(host, state)
