"""pytest support: a local stack started once per session on free ports.

In a conftest.py:

    from vmkit_local.asgi import AppSpec
    from vmkit_local.testing import stack_fixture

    local_stack = stack_fixture(
        template=ROOT / "template.yaml",
        apps={"rest": AppSpec("functions.api.app:create_app", factory=True)},
        api_apps={"HttpApi": "rest"},
    )

Tests then take `local_stack` (a started `LocalStack`). Its data directory and
`local.json` live under pytest's temporary directory; under pytest-xdist each worker
gets its own stack. `wait_for` is the polling helper for conditions that become true
asynchronously (an execution finishing, a handler's write landing).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from vmkit_local.stack import AppLike, LocalStack, ReadyHook, Service, StackConfig

T = TypeVar("T")


def stack_fixture(
    *,
    template: Path,
    apps: Mapping[str, AppLike] | None = None,
    services: Callable[[], Sequence[Service]] | None = None,
    on_ready: ReadyHook | None = None,
    scope: str = "session",
    **config: Any,
) -> Callable[..., Iterator[LocalStack]]:
    """A pytest fixture that runs `LocalStack` for `scope`.

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
