"""`vmkit local up` as a user runs it: it gets ready, and Ctrl-C leaves nothing behind.

How fast it gets ready is a figure it prints (`make bench` has the others), never an
assertion: the time depends on how loaded the machine is.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.template import ROOT

pytestmark = pytest.mark.e2e
VMKIT = Path(sys.executable).parent / "vmkit"


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_local_up_gets_ready_and_stops_clean(tmp_path, stop_signal):
    state = ROOT / ".vmkit" / "local.json"
    assert not state.exists() or not _alive(json.loads(state.read_text())["pid"]), (
        "a local stack is running"
    )
    started = time.monotonic()
    process = subprocess.Popen(
        [str(VMKIT), "local", "up", "--data-dir", str(tmp_path / "data")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        facts = _wait_for_state(state, process)
        print(f"vmkit local up was ready after {time.monotonic() - started:.1f} s")  # a figure
        ports = {
            int(url.rsplit(":", 1)[1].split("/")[0])
            for key, url in facts.items()
            if key.endswith("_url")
            and isinstance(url, str)
            and url.startswith(("http", "ws"))
            and "{" not in url
        }
        me = httpx.get(
            f"{facts['rest_url']}/api/auth/me",
            headers={"Authorization": f"Bearer {facts['api_key']}"},
        )
        assert me.status_code == 200 and me.json()["scope"] == "admin"
    finally:
        process.send_signal(stop_signal)
        output = process.communicate(timeout=60)[0]
    assert process.returncode == 0, output[-2000:]
    assert not state.exists()
    assert _group_members(process.pid) == [], "processes of the stack's group are still running"
    assert [port for port in sorted(ports) if _listening(port)] == []


def _wait_for_state(state: Path, process: subprocess.Popen) -> dict:
    deadline = time.monotonic() + 120  # a loaded machine is slow; this is not a speed test
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.stdout.read())
        if state.exists():
            return json.loads(state.read_text())
        time.sleep(0.05)
    raise AssertionError("local.json never appeared")


def _group_members(pgid: int) -> list[int]:
    """Live processes in the stack's process group (it was started as its own session)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
