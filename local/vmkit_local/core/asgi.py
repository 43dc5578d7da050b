"""ASGI apps under uvicorn, each on a pre-bound socket and its own loop thread.

An app is given as an object or as a uvicorn import string ("package.module:attr",
with `factory=True` when the attribute is a function returning the app). Import
strings are imported only when the server starts, after the stack has set up the
process environment, so apps that read their settings at import time see the local
endpoints.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvicorn

from vmkit_local.core.errors import LocalStackError
from vmkit_local.core.loop import LoopThread

log = logging.getLogger(__name__)

STARTUP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class AppSpec:
    """An app to mount: an ASGI callable or an import string, plus how to load it."""

    app: str | Callable[..., Any]
    factory: bool = False
    lifespan: str = "auto"
    # Where on its server the app answers, appended to its URL (e.g. "/mcp").
    path: str = ""


class UvicornServer:
    """One ASGI app served by uvicorn on `sock`, inside an existing event loop."""

    def __init__(self, name: str, spec: AppSpec, sock: socket.socket):
        self.name = name
        self.sock = sock
        host, port = sock.getsockname()[:2]
        self.url = f"http://{host}:{port}"
        self._config = uvicorn.Config(
            spec.app,
            factory=spec.factory,
            lifespan=spec.lifespan,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=3,
        )
        self._server = uvicorn.Server(self._config)
        self._task: asyncio.Task[None] | None = None

    async def _serve(self) -> None:
        try:
            await self._server.serve(sockets=[self.sock])
        except SystemExit as exc:  # uvicorn exits when an app fails to import or start
            raise LocalStackError(f"app {self.name!r} failed to start (see the log above)") from exc

    async def start(self) -> None:
        self._task = asyncio.create_task(self._serve(), name=f"uvicorn-{self.name}")
        deadline = asyncio.get_running_loop().time() + STARTUP_TIMEOUT_S
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises the startup failure
                raise LocalStackError(f"app {self.name!r} stopped during startup")
            if asyncio.get_running_loop().time() > deadline:
                raise LocalStackError(
                    f"app {self.name!r} did not start within {STARTUP_TIMEOUT_S:.0f} s"
                )
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        try:
            await self._task
        except LocalStackError:
            pass
        finally:
            self.sock.close()


class AppServer:
    """A mounted app on its own loop thread (see `vmkit_local.core.loop`)."""

    def __init__(self, name: str, spec: AppSpec, sock: socket.socket):
        self.name = name
        self._loop = LoopThread(f"app-{name}")
        self._server = UvicornServer(name, spec, sock)
        self.url = self._server.url

    def start(self) -> None:
        self._loop.start()
        try:
            self._loop.run(self._server.start())
        except BaseException:
            self._loop.stop()
            raise

    def stop(self) -> None:
        try:
            self._loop.run(self._server.stop(), timeout=15)
        finally:
            self._loop.stop()
