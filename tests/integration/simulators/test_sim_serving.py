"""serve_in_thread: ready when it returns, gone (port and thread) when stopped."""

from __future__ import annotations

import contextlib
import socket
import threading
from urllib.parse import urlparse

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from vmkit_local.simulators.serving import serve_in_thread


async def hello(request):
    return PlainTextResponse("hello")


def test_the_app_answers_at_once_and_stop_frees_the_port_and_thread():
    threads_before = set(threading.enumerate())
    url, stop = serve_in_thread(Starlette(routes=[Route("/", hello)]))

    assert httpx.get(url).text == "hello"
    stop()
    stop()  # idempotent

    port = urlparse(url).port
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))  # free again
    assert set(threading.enumerate()) <= threads_before
    with pytest.raises(httpx.ConnectError):
        httpx.get(url)


def test_an_app_that_fails_to_start_raises_instead_of_hanging():
    @contextlib.asynccontextmanager
    async def broken(app):
        raise RuntimeError("no database")
        yield

    with pytest.raises(RuntimeError, match="did not start"):
        serve_in_thread(Starlette(lifespan=broken), startup_timeout=5)
