"""pytest support: a local stack started once per session on free ports.

Two ways, same stack:

- `stack_process_fixture(...)`: the stack runs as `python -m vmkit_local` in a child
  process, and tests reach it only through its URLs (`StackProcess`). Nothing of it
  lives in the test process, so it can coexist with any other stack and leaves the
  test process's environment alone. Apps, services and hooks are given as import
  strings.
- `stack_fixture(...)`: the stack runs inside the test process (`LocalStack`), with
  direct access to its parts. One in-process stack per process: under pytest-xdist
  every worker gets its own, but two such fixtures must not be alive in one worker.

In a conftest.py:

    from vmkit_local.testing import stack_process_fixture

    local_stack = stack_process_fixture(
        template=ROOT / "template.yaml",
        apps={"rest": "functions.api.app:app"},
        api_apps={"HttpApi": "rest"},
    )

`wait_for` is the polling helper for conditions that become true asynchronously (an
execution finishing, a handler's write landing).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from vmkit_local.core.stack import AppLike, LocalStack, ReadyHook, Service, StackConfig

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.02, what: str = ""
) -> T:
    """Poll `condition` until it returns something truthy; fail the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what or condition!r}")
        time.sleep(interval)


class StackProcess:
    """`python -m vmkit_local` in a child process of its own session, seen from outside.

    After `start()`, `state` is its `.vmkit/local.json`, and the attributes mirror
    `LocalStack`'s: `aws_url`, `ws_url`, `ws_management_url`, `app_urls`,
    `github_webhook_secret`, `client(service)`.
    """

    def __init__(
        self,
        root: Path,
        *,
        template: Path | None = None,
        data_dir: Path | None = None,
        arguments: Sequence[str] = (),
        python_path: Sequence[Path] = (),
        command: Sequence[str] | None = None,
    ):
        """`python -m vmkit_local` on `template`, or `command` (another entry point that
        writes `root/local.json` when ready, such as one building the embedded stack)."""
        self.root = root
        self.state_file = root / "local.json"
        self.log_file = root / "stack.log"
        data = ["--data-dir", str(data_dir)] if data_dir else ["--no-data-dir"]
        self.command = list(command) if command else [
            sys.executable, "-m", "vmkit_local", "--template", str(template),
            "--state-file", str(self.state_file), *data, *arguments,
        ]  # fmt: skip
        paths = [str(path) for path in python_path] + [os.environ.get("PYTHONPATH", "")]
        self.environment = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
        self.process: subprocess.Popen[bytes] | None = None
        self.state: dict[str, Any] = {}

    # Started and not stopped yet: what a failing test leaves for `kill_leftovers`.
    _running: set[StackProcess] = set()

    @classmethod
    def running(cls) -> set[StackProcess]:
        return set(cls._running)

    @classmethod
    def kill_leftovers(cls, keep: set[StackProcess]) -> None:
        """SIGKILL the stack processes started and never stopped (a test failed), but
        those in `keep` (a longer-lived fixture's)."""
        for stack in cls._running - keep:
            if stack.process is not None and stack.process.poll() is None:
                os.killpg(stack.process.pid, signal.SIGKILL)
                stack.process.wait()
            cls._running.discard(stack)

    def start(self, timeout: float = 60.0) -> StackProcess:
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.environment,
                start_new_session=True,
            )
        StackProcess._running.add(self)

        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                pytest.fail(f"stack exited with {self.process.returncode}:\n{self.log()}")
            return self._own_state_file()

        wait_for(ready, timeout=timeout, interval=0.05, what=f"{self.state_file}")
        self.state = json.loads(self.state_file.read_text())
        return self

    def _own_state_file(self) -> bool:
        """The state file is there and this process wrote it (not a crashed run before)."""
        assert self.process is not None
        try:
            return json.loads(self.state_file.read_text()).get("pid") == self.process.pid
        except (OSError, ValueError):
            return False

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Signal the stack and wait for it; returns its exit code."""
        assert self.process is not None
        StackProcess._running.discard(self)
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            pytest.fail(f"stack did not stop within {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def aws_url(self) -> str:
        return str(self.state["aws_endpoint_url"])

    @property
    def ws_url(self) -> str:
        return str(self.state["ws_url"])

    @property
    def ws_management_url(self) -> str:
        return str(self.state["ws_management_url"])

    @property
    def app_urls(self) -> dict[str, str]:
        return dict(self.state["app_urls"])

    @property
    def github_webhook_secret(self) -> str:
        return str(self.state["github_webhook_secret"])

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.aws_url,
            region_name=self.state["region"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 (moto accepts any)
        )


def stack_process_arguments(
    *,
    apps: Mapping[str, str] | None = None,
    app_factories: Mapping[str, str] | None = None,
    api_apps: Mapping[str, str] | None = None,
    parameter_overrides: Mapping[str, str] | None = None,
    secret_values: Mapping[str, str] | None = None,
    services: str | None = None,
    on_ready: str | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    """Command-line arguments of `python -m vmkit_local` for these settings."""
    arguments: list[str] = []
    for option, pairs in (
        ("--app", apps),
        ("--app-factory", app_factories),
        ("--api-app", api_apps),
        ("--param", parameter_overrides),
        ("--secret", secret_values),
    ):
        for name, value in (pairs or {}).items():
            arguments += [option, f"{name}={value}"]
    if services:
        arguments += ["--services", services]
    if on_ready:
        arguments += ["--on-ready", on_ready]
    return arguments + list(extra)


def stack_process_fixture(
    *,
    template: Path,
    python_path: Sequence[Path] = (),
    scope: str = "session",
    **settings: Any,
) -> Callable[..., Iterator[StackProcess]]:
    """A pytest fixture running the stack as a child process for `scope`.

    `settings` are those of `stack_process_arguments` (apps and services as import
    strings, importable through `python_path`).
    """

    @pytest.fixture(scope=scope)  # type: ignore[misc]
    def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
        root = tmp_path_factory.mktemp("local-stack")
        stack = StackProcess(
            root,
            template=template,
            data_dir=root / "data",
            arguments=stack_process_arguments(**settings),
            python_path=python_path,
        )
        stack.start()
        try:
            yield stack
        finally:
            exit_code = stack.stop()
            assert exit_code == 0, stack.log()

    return local_stack


def stack_fixture(
    *,
    template: Path,
    apps: Mapping[str, AppLike] | None = None,
    services: Callable[[], Sequence[Service]] | None = None,
    on_ready: ReadyHook | None = None,
    scope: str = "session",
    **config: Any,
) -> Callable[..., Iterator[LocalStack]]:
    """A pytest fixture running `LocalStack` inside the test process for `scope`.

    `services` is a factory, so every stack gets fresh service objects; `config` takes
    the other `StackConfig` fields (parameter_overrides, api_apps, limits, ...).
    """

    @pytest.fixture(scope=scope)  # type: ignore[misc]
    def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
        root = tmp_path_factory.mktemp("local-stack")
        stack_config = StackConfig(
            template=template, data_dir=root / "data", state_file=root / "local.json", **config
        )
        stack = LocalStack(
            stack_config, apps=apps, services=services() if services else (), on_ready=on_ready
        )
        stack.start()
        try:
            yield stack
        finally:
            stack.stop()

    return local_stack
