"""Serve simulator apps on free ports for the duration of a test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from vmkit_local.simulators.serving import serve_in_thread


@pytest.fixture
def serve() -> Iterator[Callable[[Any], str]]:
    """`serve(app) -> base_url`; every server started is stopped after the test."""
    stops = []

    def start(app: Any) -> str:
        url, stop = serve_in_thread(app)
        stops.append(stop)
        return url

    yield start
    for stop in reversed(stops):
        stop()
