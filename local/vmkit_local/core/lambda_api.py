"""Lambda's Invoke API in front of moto.

moto serves every AWS API the stack uses, but cannot run Python handlers without
Docker. This WSGI router answers `POST /2015-03-31/functions/{name}/invocations`
itself, by running the handler in-process, and hands every other request to moto.
moto's Step Functions executor calls Lambda at `localhost:$MOTO_PORT`, so with
`MOTO_PORT` set to this router's port, state machine tasks reach the real handlers.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, unquote

from vmkit_local.core.errors import FunctionNotFound
from vmkit_local.core.functions import FunctionRuntime, InvalidRequestContent, Invocation

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations/?$")
SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024
ASYNC_PAYLOAD_LIMIT = 1024 * 1024


class LambdaInvokeRouter:
    """WSGI app: Lambda Invoke served locally, everything else passed to `fallback`."""

    def __init__(self, fallback: WsgiApp):
        self.fallback = fallback
        # Set once the template's functions are known; until then invocations get 404.
        self.runtime: FunctionRuntime | None = None

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        match = _INVOKE_PATH.match(environ.get("PATH_INFO", ""))
        if match is None or environ.get("REQUEST_METHOD") != "POST":
            return self.fallback(environ, start_response)
        status, headers, body = self._invoke(environ, unquote(match.group("name")))
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [body]

    def _invoke(
        self, environ: dict[str, Any], name: str
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        qualifier = (query.get("Qualifier") or [""])[0]
        if qualifier and ":" not in name.removeprefix("arn:aws:lambda:").split("function:")[-1]:
            name = f"{name}:{qualifier}"
        invocation_type = environ.get("HTTP_X_AMZ_INVOCATION_TYPE", "RequestResponse")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        payload = environ["wsgi.input"].read(length) if length else b""
        limit = ASYNC_PAYLOAD_LIMIT if invocation_type == "Event" else SYNC_PAYLOAD_LIMIT
        if len(payload) > limit:
            return _error(
                "413 Request Entity Too Large",
                "RequestTooLargeException",
                f"Request must be smaller than {limit} bytes for the InvokeFunction operation",
            )
        if self.runtime is None:
            return _error(
                "404 Not Found", "ResourceNotFoundException", f"Function not found: {name}"
            )
        try:
            if invocation_type == "RequestResponse":
                return _result(self.runtime.invoke(name, payload))
            if invocation_type == "Event":
                request_id = self.runtime.invoke_event(name, payload)
                return "202 Accepted", [("X-Amzn-RequestId", request_id)], b""
            if invocation_type == "DryRun":
                self.runtime.resolve(name)
                return "204 No Content", [], b""
        except FunctionNotFound as exc:
            return _error("404 Not Found", "ResourceNotFoundException", str(exc))
        except InvalidRequestContent as exc:
            return _error("400 Bad Request", "InvalidRequestContentException", str(exc))
        return _error(
            "400 Bad Request",
            "InvalidParameterValueException",
            f"Unsupported InvocationType {invocation_type!r}: use RequestResponse, Event or DryRun",
        )


def _result(invocation: Invocation) -> tuple[str, list[tuple[str, str]], bytes]:
    headers = [
        ("Content-Type", "application/json"),
        ("X-Amz-Executed-Version", "$LATEST"),
        ("X-Amzn-RequestId", invocation.request_id),
    ]
    if invocation.function_error:
        headers.append(("X-Amz-Function-Error", invocation.function_error))
    return "200 OK", headers, invocation.payload


def _error(status: str, error_type: str, message: str) -> tuple[str, list[tuple[str, str]], bytes]:
    """Lambda's error shape; the request id matters: Step Functions puts it in the cause."""
    body = json.dumps({"Type": "User", "message": message}).encode()
    headers = [
        ("Content-Type", "application/json"),
        ("x-amzn-ErrorType", error_type),
        ("X-Amzn-RequestId", str(uuid.uuid4())),
    ]
    return status, headers, body
