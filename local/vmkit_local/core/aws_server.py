"""moto in server mode, behind the Lambda router, served from a thread of this process.

In-process rather than a child `moto_server`: handlers run in this process anyway
(they are called by the router), moto's import cost is paid once, and the state can
be dumped on stop without a network round trip per service.

moto 5.2.5's Step Functions executor, as seen through this router (tests in
tests/integration/localcore/test_localcore_stepfunctions.py, the rest tried by hand):
- does: `lambda:invoke` and `lambda:invoke.waitForTaskToken` and plain Lambda ARNs as
  Resource, all through Lambda Invoke at `localhost:$MOTO_PORT`; a function error's
  `errorType` becomes the state's error name and the payload its cause, so Retry on a
  named error, `States.TaskFailed`, `States.ALL` and Catch (with ResultPath) behave as
  on AWS; Retry's IntervalSeconds/BackoffRate/MaxAttempts/MaxDelaySeconds/Jitter (it
  really sleeps); TimeoutSeconds/TimeoutSecondsPath on token waits (`States.Timeout`);
  SendTaskSuccess/SendTaskFailure (a reused token: `InvalidToken`); Lambda API errors
  as `Lambda.<Code>` (`Lambda.ResourceNotFoundException`, with Lambda's cause text).
- does not: keep SendTaskFailure's `cause` (the execution's cause is empty); report a
  missed heartbeat as `States.HeartbeatTimeout` (it says `States.Timeout`); match
  `States.TaskFailed` against `States.*` errors other than Timeout (AWS does); add
  `SdkHttpMetadata`/`SdkResponseMetadata` to `lambda:invoke` results (only StatusCode,
  ExecutedVersion, Payload); StartSyncExecution (Express), RedriveExecution, activity
  workers; end a stopped execution's token wait (this endpoint wakes them after each
  StopExecution: `moto_state.release_waiting_tasks`).
"""

from __future__ import annotations

import json
import socket
import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from vmkit_local.core import moto_state
from vmkit_local.core.journal import JournalingApp
from vmkit_local.core.lambda_api import LambdaInvokeRouter
from vmkit_local.core.listeners import port_of
from vmkit_local.core.wsgi import call, environ_for

# What moto must be told in server mode (NOTES.md): run state machines for real, and
# never try Docker for Lambda (the router answers Lambda invocations instead).
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}


def _quiet_handler() -> type:
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class QuietHandler(MotoRequestHandler):
        """moto's handler without a log line per request (the stack logs what matters)."""

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            return None

    return QuietHandler


class AwsServer:
    """The AWS endpoint of the stack: `AWS_ENDPOINT_URL` points here."""

    def __init__(self, sock: socket.socket):
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        host = sock.getsockname()[0]
        self.url = f"http://{host}:{port_of(sock)}"
        self.port = port_of(sock)
        # moto, with the journal in front of it (every acknowledged change on disk first),
        # with the Lambda Invoke API in front of both.
        self.journaling = JournalingApp(DomainDispatcherApplication(create_backend_app))
        self.router = LambdaInvokeRouter(self.journaling)
        self._in_flight = 0
        self._idle = threading.Condition()
        self._server: BaseWSGIServer = make_server(
            host,
            self.port,
            self._serve_request,
            threaded=True,
            request_handler=_quiet_handler(),
            fd=sock.fileno(),
        )
        sock.close()  # the server holds its own duplicate of the descriptor
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="aws-server",
            daemon=True,
        )

    def _serve_request(self, environ: dict, start_response: Any) -> Any:
        with self._idle:
            self._in_flight += 1
        try:
            answer = self.router(environ, start_response)
            if environ.get("HTTP_X_AMZ_TARGET", "").endswith(".StopExecution"):
                # As on AWS, a stopped execution's token wait ends now (moto leaves it
                # waiting until its timeout, days for a pull request).
                moto_state.end_stopped_executions()
            return answer
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def drain(self, timeout: float) -> int:
        """Wait until no request is being answered (a Lambda handler running, say);
        returns how many still were at the deadline."""
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0, timeout)
            return self._in_flight

    def start(self) -> None:
        self._thread.start()
        self.configure(MOTO_CONFIG)

    def configure(self, config: dict) -> dict:
        """Set moto's configuration through its own endpoint, as a moto_server user would."""
        return json.loads(self._post("/moto-api/config", json.dumps(config).encode()))

    def reset(self) -> None:
        """Empty every moto backend: they are process globals, shared by later stacks."""
        self._post("/moto-api/reset", b"")

    def _post(self, path: str, body: bytes) -> bytes:
        """In-process, so it works before the endpoint serves and after it stopped."""
        request = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "CONTENT_TYPE": "application/json"}
        status, _, chunks = call(self.router, environ_for(request, body))
        if not status.startswith("2"):
            raise RuntimeError(f"moto refused POST {path}: {status}")
        return b"".join(chunks)

    def stop(self) -> None:
        """Stop answering: after this no request can reach moto (or its journal) any more."""
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()
