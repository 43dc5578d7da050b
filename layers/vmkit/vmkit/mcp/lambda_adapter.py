"""Serving the MCP app behind a Lambda function URL, one warm invocation after another.

The trap: the streamable HTTP app's lifespan starts the SDK's session manager, and a
session manager can run only once per process. An adapter that runs the ASGI
lifespan around every invocation (Mangum's `lifespan="auto"`) serves the cold
invocation and then fails every warm one with `LifespanFailure`.

Two designs hold on AWS. Lambda Web Adapter (a Rust extension, shipped as a layer)
starts the app under uvicorn as a second process when the execution environment
starts, and proxies each invocation to it over loopback HTTP; the process, and with
it the lifespan, outlives invocations. Or the handler owns the lifespan itself, which
is what this module does:

- at cold start (Lambda's INIT phase) it makes one event loop and enters the app's
  lifespan once, in a task that stays suspended on that loop for the life of the
  execution environment;
- each invocation is translated by Mangum with `lifespan="off"` and run on that same
  loop. Lambda runs one invocation at a time per environment and freezes the process
  between them, so the loop is never shared and nothing has to run in between: the
  server is stateless, no MCP session outlives its request. A timed-out invocation
  makes Lambda restart the runtime, which takes the loop with it.

Why this rather than Lambda Web Adapter: it is the same zip package, Python runtime
and layer as every other VMKit function (LWA adds a third-party layer, a start script,
a readiness probe on a port and a second process booting uvicorn into the cold start);
there is no loopback HTTP hop per request; and it is tested offline exactly as AWS
runs it, the real handler fed Lambda function URL events warm invocation after warm
invocation, where LWA's binary could not run here at all.

The Host allow-list: a function URL's host (`<url-id>.lambda-url.<region>.on.aws`)
cannot be passed to the function by the template, since the URL is created after the
function and referring to it would be a cycle. AWS states it in every event, as
`requestContext.domainName`; the handler adds it to the app's allow-list.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mangum import Mangum
from starlette.applications import Starlette

from vmkit.mcp.server import allow_host


class FunctionUrlHandler:
    """A Lambda handler for an ASGI app whose lifespan must start once per process."""

    def __init__(self, app: Starlette):
        self._app = app
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)  # before Mangum looks for one
        self._adapter = Mangum(app, lifespan="off")
        self._stopping = asyncio.Event()
        self._lifespan = self._loop.run_until_complete(self._enter_lifespan())

    async def _enter_lifespan(self) -> asyncio.Task[None]:
        started = asyncio.Event()

        async def hold() -> None:
            async with self._app.router.lifespan_context(self._app):
                started.set()
                await self._stopping.wait()

        lifespan = asyncio.ensure_future(hold())
        waiting = asyncio.ensure_future(started.wait())
        await asyncio.wait({lifespan, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if not started.is_set():  # the app failed to start: let INIT fail with its error
            waiting.cancel()
            lifespan.result()
        return lifespan

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        host = (event.get("requestContext") or {}).get("domainName")
        if host:
            allow_host(self._app, host)
        # Mangum runs the request on the thread's current loop; other code in the
        # process (an asyncio.run) may have replaced it since the last invocation.
        asyncio.set_event_loop(self._loop)
        return self._adapter(event, context)

    def close(self) -> None:
        """Leave the lifespan and close the loop (Lambda never needs to; tests do)."""
        asyncio.set_event_loop(self._loop)
        self._stopping.set()
        self._loop.run_until_complete(self._lifespan)
        self._loop.run_until_complete(self._loop.shutdown_default_executor())
        self._loop.close()
        asyncio.set_event_loop(None)
