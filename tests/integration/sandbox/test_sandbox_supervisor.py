"""The systemd stand-in: restart policies, environment files, stop escalation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_helpers import Gateway, process_alive

from vmkit_local.sandbox.errors import UnitError
from vmkit_local.sandbox.rootfs import seed_base_image
from vmkit_local.sandbox.supervisor import ServiceSupervisor


@pytest.fixture
def root(tmp_path: Path) -> Path:
    seed_base_image(tmp_path / "root", "vm")
    return tmp_path / "root"


@pytest.fixture
def supervisor(root: Path) -> Iterator[ServiceSupervisor]:
    systemd = ServiceSupervisor(root, "vm", time_scale=0.01)
    yield systemd
    systemd.stop_all()


def install(root: Path, name: str, service: str) -> None:
    unit = f"[Unit]\nDescription={name}\n\n[Service]\n{service}\n"
    (root / "etc/systemd/system" / name).write_text(unit)


def journal(root: Path, name: str) -> str:
    return (root / f"var/log/journal/{name.removesuffix('.service')}.log").read_text()


def test_on_failure_does_not_restart_a_clean_exit(root: Path, supervisor: ServiceSupervisor):
    install(root, "once.service", 'ExecStart=/usr/bin/python3 -c "print(42)"\nRestart=on-failure')

    supervisor.start("once.service")

    assert supervisor.wait_for_inactive("once.service")
    assert "Main process exited, code=exited, status=0/SUCCESS" in journal(root, "once.service")
    assert "Scheduled restart job" not in journal(root, "once.service")
    assert "once[" in journal(root, "once.service") and "]: 42" in journal(root, "once.service")


def test_on_failure_restarts_a_failing_exit(root: Path, supervisor: ServiceSupervisor):
    install(
        root,
        "flaky.service",
        'ExecStart=/usr/bin/python3 -c "raise SystemExit(3)"\nRestart=on-failure\nRestartSec=1s',
    )

    supervisor.start("flaky.service")

    assert supervisor.wait_for_start("flaky.service", count=3)
    assert "status=3/FAILURE" in journal(root, "flaky.service")


def test_a_missing_environment_file_fails_the_start(root: Path, supervisor: ServiceSupervisor):
    install(root, "env.service", "EnvironmentFile=/etc/nope.env\nExecStart=/usr/bin/python3 -V")

    with pytest.raises(UnitError, match=r"Failed to load environment file /etc/nope\.env"):
        supervisor.start("env.service")
    assert not supervisor.is_active("env.service")


def test_an_optional_environment_file_may_be_missing_and_values_reach_the_process(
    root: Path, supervisor: ServiceSupervisor
):
    (root / "etc/app.env").write_text("GREETING=hello\n")
    script = (
        "import os; print(os.environ['GREETING'], os.environ['EXTRA'], os.environ['VMKIT_ROOT'])"
    )
    install(
        root,
        "env.service",
        f"EnvironmentFile=-/etc/missing.env\nEnvironmentFile=/etc/app.env\nEnvironment=EXTRA=x\n"
        f'ExecStart=/usr/bin/python3 -c "{script}"',
    )

    supervisor.start("env.service")

    assert supervisor.wait_for_inactive("env.service")
    assert f"]: hello x {root}" in journal(root, "env.service")


def test_a_process_ignoring_sigterm_is_killed_after_the_stop_timeout(
    root: Path, supervisor: ServiceSupervisor, gateway: Gateway
):
    port = gateway.url.split(":")[2].split("/")[0]
    script = (
        "import json, os, signal, socket; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        f"c = socket.create_connection(('127.0.0.1', {port})); "
        "c.sendall(json.dumps({'pid': os.getpid()}).encode() + b'\\n'); signal.pause()"
    )
    install(
        root, "stubborn.service", f'ExecStart=/usr/bin/python3 -c "{script}"\nTimeoutStopSec=20'
    )
    supervisor.start("stubborn.service")
    pid = gateway.next_agent()["pid"]  # it ignores SIGTERM from here on

    supervisor.stop("stubborn.service")

    assert not process_alive(pid)
    assert "State 'stop-sigterm' timed out. Killing." in journal(root, "stubborn.service")


def test_an_unknown_executable_fails_the_start(root: Path, supervisor: ServiceSupervisor):
    install(root, "ghost.service", "ExecStart=/usr/local/bin/ghost")

    with pytest.raises(UnitError, match="failed to execute"):
        supervisor.start("ghost.service")
