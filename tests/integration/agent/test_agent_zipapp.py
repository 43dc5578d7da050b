"""The built zipapp as a VM runs it: a bare interpreter, a real process, and a
self-upgrade to a newer build that comes back with the new version."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from agent_integration_support import INSTANCE_ID, TOKEN, make_root

from vmkit_agent.build import build_agent
from vmkit_agent.testing import FileServer, TestGateway

# The interpreter behind the venv: with -I -S nothing but the standard library.
BARE_PYTHON = getattr(sys, "_base_executable", sys.executable)


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    base = tmp_path_factory.mktemp("builds")
    return {
        "old": build_agent(base / "old", version="1.0.0+itest"),
        "new": build_agent(base / "new", version="2.0.0+itest"),
    }


@pytest.fixture
def installed_root(tmp_path, builds):
    """A fake VM where cloud-init installed the old build."""
    root = make_root(tmp_path)
    target = root / "usr/local/bin/vmkit-agent"
    target.parent.mkdir(parents=True)
    shutil.copy2(builds["old"].path, target)
    return root


@contextlib.asynccontextmanager
async def agent_process(root: Path, gateway_url: str, log: Path):
    env = {
        "VMKIT_AGENT_TOKEN": TOKEN,
        "VMKIT_GATEWAY_URL": gateway_url,
        "VMKIT_INSTANCE_ID": INSTANCE_ID,
        "VMKIT_ROOT": str(root),
        "VMKIT_LOG_LEVEL": "debug",
    }
    with log.open("w") as stderr:
        process = await asyncio.create_subprocess_exec(
            BARE_PYTHON, "-I", "-S", str(root / "usr/local/bin/vmkit-agent"), env=env, stderr=stderr
        )
        try:
            yield process
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()


def test_the_build_is_self_contained_and_reproducible(builds, tmp_path):
    old = builds["old"]
    names = zipfile.ZipFile(old.path).namelist()

    assert old.sha256_path.read_text() == f"{old.sha256}  vmkit-agent.pyz\n"
    assert hashlib.sha256(old.path.read_bytes()).hexdigest() == old.sha256
    assert "__main__.py" in names and "_vendor/websockets/asyncio/client.py" in names
    assert "_vendor/websockets.LICENSE" in names
    assert not [n for n in names if n.endswith((".so", ".c", ".pyi")) or "__pycache__" in n]
    assert "vmkit_agent/build.py" not in names and "vmkit_agent/testing.py" not in names
    assert build_agent(tmp_path, version="1.0.0+itest").sha256 == old.sha256
    assert builds["new"].sha256 != old.sha256


def test_a_bad_build_version_is_refused(tmp_path):
    with pytest.raises(ValueError, match=re.escape("agent version '1.0; rm' must match")):
        build_agent(tmp_path, version="1.0; rm")


def test_the_zipapp_refuses_to_start_without_its_configuration(builds):
    done = subprocess.run(
        [BARE_PYTHON, "-I", "-S", str(builds["old"].path)],
        env={},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "VMKIT_AGENT_TOKEN is not set" in done.stderr


def test_the_zipapp_runs_on_a_bare_interpreter(installed_root, tmp_path):
    log = tmp_path / "agent.log"

    async def scenario():
        async with (
            TestGateway(tokens=[TOKEN]) as gateway,
            agent_process(installed_root, gateway.url, log) as proc,
        ):
            conn = await gateway.registered(0, timeout=20)
            assert conn.register["params"]["version"] == "1.0.0+itest"
            assert (await gateway.call(conn, "metrics_collect"))["type"] == "result"
            proc.terminate()
            assert await asyncio.wait_for(proc.wait(), 20) == 0
            await asyncio.wait_for(conn.closed.wait(), 5)
            assert conn.close_code == 1001

    asyncio.run(scenario())
    assert "s3cr3t" not in log.read_text()


def test_the_agent_upgrades_itself_and_comes_back_with_the_new_version(
    installed_root, builds, tmp_path
):
    new = builds["new"]
    installed = installed_root / "usr/local/bin/vmkit-agent"
    log = tmp_path / "agent.log"
    downloads = FileServer()
    url = downloads.serve("/agent/2.0.0/vmkit-agent.pyz", new.path.read_bytes())

    async def scenario():
        async with (
            TestGateway(tokens=[TOKEN]) as gateway,
            agent_process(installed_root, gateway.url, log) as proc,
        ):
            first = await gateway.registered(0, timeout=20)

            refused = await gateway.call(
                first,
                "agent_upgrade",
                {"version": new.version, "download_url": url, "checksum_sha256": "0" * 64},
            )
            assert refused["error"]["code"] == "checksum_mismatch"
            assert installed.read_bytes() == builds["old"].path.read_bytes()

            reply = await gateway.call(
                first,
                "agent_upgrade",
                {"version": new.version, "download_url": url, "checksum_sha256": new.sha256},
            )
            assert reply["result"] == {"status": "upgrading", "version": "2.0.0+itest"}

            second = await gateway.registered(1, timeout=20)
            assert second.register["params"]["version"] == "2.0.0+itest"
            assert first.close_code == 1001
            assert proc.returncode is None  # the same process, re-executed in place
            assert (await gateway.call(second, "metrics_collect"))["type"] == "result"
            proc.terminate()
            assert await asyncio.wait_for(proc.wait(), 20) == 0

    try:
        asyncio.run(scenario())
    finally:
        downloads.close()
    assert hashlib.sha256(installed.read_bytes()).hexdigest() == new.sha256
    assert (installed_root / "etc/vmkit/agent.sha256").read_text().startswith(new.sha256)
    assert "s3cr3t" not in log.read_text()
