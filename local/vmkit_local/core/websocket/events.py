"""The events API Gateway sends to a WebSocket API's Lambda integrations.

Shapes follow real captured events (Powertools' `tests/events/`, copies in
`tests/fixtures/localcore/events/`) and parse with Powertools' parser models.
`requestContext.authorizer` (the authorizer's principal and context) is present on
every route of a connection that was authorized on `$connect`, as on AWS.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

# Headers API Gateway adds in front of the integration.
FORWARDING_HEADERS = ("X-Amzn-Trace-Id", "X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto")


def new_id() -> str:
    """An id shaped like API Gateway's connection and request ids ("BFaT_fALIAMCKug=")."""
    return base64.urlsafe_b64encode(os.urandom(11)).decode()


def now_ms() -> int:
    return int(time.time() * 1000)


def request_time(epoch_ms: int) -> str:
    """API Gateway's `requestTime`: "27/Jan/2025:16:39:47 +0000" (locale-independent)."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return f"{moment:%d}/{_MONTHS[moment.month - 1]}/{moment:%Y:%H:%M:%S} +0000"


@dataclass(frozen=True)
class ConnectionInfo:
    """What API Gateway knows about a connection from its opening handshake."""

    connection_id: str
    api_id: str
    stage: str
    domain_name: str
    source_ip: str
    user_agent: str | None
    connected_at_ms: int
    port: int
    trace_id: str

    def forwarding_headers(self) -> list[tuple[str, str]]:
        return [
            ("X-Amzn-Trace-Id", self.trace_id),
            ("X-Forwarded-For", self.source_ip),
            ("X-Forwarded-Port", str(self.port)),
            ("X-Forwarded-Proto", "http"),
        ]


def _headers(pairs: Iterable[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """(headers, multiValueHeaders): the last value wins in the first, the second keeps all."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return single, multi


def _query(query: Mapping[str, list[str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    return {name: values[-1] for name, values in query.items()}, {
        name: list(v) for name, v in query.items()
    }


def _request_context(
    info: ConnectionInfo, route_key: str, event_type: str, authorizer: Mapping[str, Any] | None
) -> dict[str, Any]:
    request_id = new_id()
    epoch = now_ms()
    identity: dict[str, Any] = {"sourceIp": info.source_ip}
    if info.user_agent:
        identity["userAgent"] = info.user_agent
    context: dict[str, Any] = {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": request_time(epoch),
        "messageDirection": "IN",
        "stage": info.stage,
        "connectedAt": info.connected_at_ms,
        "requestTimeEpoch": epoch,
        "identity": identity,
        "requestId": request_id,
        "domainName": info.domain_name,
        "connectionId": info.connection_id,
        "apiId": info.api_id,
    }
    if authorizer is not None:
        context["authorizer"] = dict(authorizer)
    return context


def authorizer_event(
    info: ConnectionInfo,
    headers: Iterable[tuple[str, str]],
    query: Mapping[str, list[str]],
    method_arn: str,
) -> dict[str, Any]:
    """The REQUEST authorizer's event on `$connect` (`apiGatewayAuthorizerWebSocketEvent`)."""
    single, multi = _headers([*headers, ("content-length", "0"), *info.forwarding_headers()])
    query_single, query_multi = _query(query)
    return {
        "type": "REQUEST",
        "methodArn": method_arn,
        "headers": single,
        "multiValueHeaders": multi,
        "queryStringParameters": query_single,
        "multiValueQueryStringParameters": query_multi,
        "stageVariables": {},
        "requestContext": _request_context(info, "$connect", "CONNECT", None),
    }


def connect_event(
    info: ConnectionInfo,
    headers: Iterable[tuple[str, str]],
    query: Mapping[str, list[str]],
    authorizer: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The `$connect` integration's event (shape of `apiGatewayWebSocketApiConnect`).

    API Gateway strips the hop-by-hop `Connection`/`Upgrade` headers here, and sends the
    query string only when there is one.
    """
    kept = [
        (name, value) for name, value in headers if name.lower() not in ("connection", "upgrade")
    ]
    single, multi = _headers([*kept, *info.forwarding_headers()])
    event: dict[str, Any] = {
        "headers": single,
        "multiValueHeaders": multi,
        "requestContext": _request_context(info, "$connect", "CONNECT", authorizer),
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"], event["multiValueQueryStringParameters"] = _query(query)
    return event


def message_event(
    info: ConnectionInfo, route_key: str, body: str, authorizer: Mapping[str, Any] | None
) -> dict[str, Any]:
    """A route's event for one client message (shape of `apiGatewayWebSocketApiMessage`)."""
    context = _request_context(info, route_key, "MESSAGE", authorizer)
    context["messageId"] = new_id()
    return {"requestContext": context, "body": body, "isBase64Encoded": False}


def disconnect_event(
    info: ConnectionInfo, status_code: int, reason: str, authorizer: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The `$disconnect` event (shape of `apiGatewayWebSocketApiDisconnect`)."""
    single, multi = _headers(
        [("Host", info.domain_name), ("x-api-key", ""), ("X-Forwarded-For", ""), ("x-restapi", "")]
    )
    context = _request_context(info, "$disconnect", "DISCONNECT", authorizer)
    context["disconnectStatusCode"] = status_code
    context["disconnectReason"] = reason
    return {
        "headers": single,
        "multiValueHeaders": multi,
        "requestContext": context,
        "isBase64Encoded": False,
    }
