"""Choosing the host, and how the sandbox re-executes an upgraded agent."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from vmkit_agent.host import make_host
from vmkit_agent.host.linux import LinuxHost
from vmkit_agent.host.sandbox import SandboxHost, _interpreter_flags


def test_root_slash_gets_the_real_host_and_anything_else_the_sandbox(tmp_path):
    assert isinstance(make_host(Path("/")), LinuxHost)
    sandbox = make_host(tmp_path)
    assert isinstance(sandbox, SandboxHost)
    assert sandbox.agent_path == tmp_path / "usr/local/bin/vmkit-agent"


def test_host_paths_must_be_absolute(tmp_path):
    with pytest.raises(ValueError, match="expected an absolute path"):
        SandboxHost(tmp_path).path("etc/passwd")


@pytest.mark.parametrize(
    ("orig_argv", "argv0", "flags"),
    [
        (["python3", "/usr/local/bin/vmkit-agent"], "/usr/local/bin/vmkit-agent", []),
        (["python3", "-I", "-S", "/r/agent.pyz"], "/r/agent.pyz", ["-I", "-S"]),
        (["python3", "-X", "dev", "-W", "error", "a.pyz"], "a.pyz", ["-X", "dev", "-W", "error"]),
        (["python", "-u", "-m", "vmkit_agent"], "/src/vmkit_agent/__main__.py", ["-u"]),
    ],
)
def test_the_reexecuted_agent_keeps_the_interpreter_flags(monkeypatch, orig_argv, argv0, flags):
    monkeypatch.setattr(sys, "orig_argv", orig_argv)
    monkeypatch.setattr(sys, "argv", [argv0])
    assert _interpreter_flags() == flags


def test_the_sandbox_restart_execs_the_installed_agent_with_the_same_interpreter(
    tmp_path, monkeypatch
):
    calls = []
    monkeypatch.setattr(sys, "orig_argv", [sys.executable, "-I", "-S", "/old/agent.pyz"])
    monkeypatch.setattr("os.execv", lambda path, argv: calls.append((path, argv)))

    SandboxHost(tmp_path).restart_agent()

    assert calls == [
        (sys.executable, [sys.executable, "-I", "-S", str(tmp_path / "usr/local/bin/vmkit-agent")])
    ]
