"""Run an ASGI app under uvicorn on a background thread, for tests and the local stack.

The socket is bound before uvicorn starts, so the caller gets a URL that is already
listening (no race on "which port did it pick?") and port 0 always works. Readiness is
an event set by uvicorn's own startup, not a poll, so callers never sleep.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

import uvicorn

Stop = Callable[[], None]


class _ThreadServer(uvicorn.Server):
    """A uvicorn server that tells the starting thread when it is ready."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets=sockets)
        finally:
            self.ready.set()


def serve_in_thread(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout: float = 10.0,
    shutdown_timeout: float = 10.0,
    sock: socket.socket | None = None,
) -> tuple[str, Stop]:
    """Serve `app` on `host:port` (0 = a free port), or on the bound `sock` the caller
    chose, and return `(base_url, stop)`.

    `stop()` asks uvicorn to exit, waits for the thread and frees the port; it is safe
    to call more than once.
    """
    if sock is None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    host, bound_port = sock.getsockname()[:2]

    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="auto",
        timeout_graceful_shutdown=int(shutdown_timeout / 2) or 1,
    )
    server = _ThreadServer(config)

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except SystemExit:
            pass  # uvicorn exits on a failed startup; `started` stays False, the caller raises
        finally:
            server.ready.set()  # a crash before startup must not leave the caller waiting

    thread = threading.Thread(target=run, name=f"uvicorn-{bound_port}", daemon=True)
    thread.start()

    def stop() -> None:
        server.should_exit = True
        thread.join(shutdown_timeout)
        sock.close()

    if not server.ready.wait(startup_timeout) or not server.started:
        stop()
        raise RuntimeError(f"the app did not start on {host}:{bound_port}")
    return f"http://{host}:{bound_port}", stop
