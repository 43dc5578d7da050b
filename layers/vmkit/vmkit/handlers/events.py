"""The AWS events VMKit's functions receive, as pydantic models of the fields they read.

Field names are as on the wire (aliases); anything else in an event is ignored, so an
event AWS enriches later still parses, while one missing what a handler needs is
refused with a validation error instead of a `KeyError` deep inside. Small models of
our own, not Powertools' parser models: those import every event model Powertools
knows, which a cold start would pay for. `tests/unit/handlers/test_events.py` checks
that the sample events in `events/` (real AWS shapes) parse with both.
"""

from __future__ import annotations

import base64
from typing import Any, Literal

from pydantic import ConfigDict, Field

from vmkit.modelbase import Model


class _Event(Model):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


def _lower(headers: dict[str, str] | None) -> dict[str, str]:
    return {name.lower(): value for name, value in (headers or {}).items()}


# --- API Gateway WebSocket API --------------------------------------------------------


class WebSocketRequestContext(_Event):
    connection_id: str = Field(alias="connectionId")
    route_key: str = Field(alias="routeKey")
    event_type: Literal["CONNECT", "DISCONNECT", "MESSAGE"] = Field(alias="eventType")
    # The REQUEST authorizer's principal and context, on every route of a connection
    # authorized on $connect.
    authorizer: dict[str, Any] | None = None


class WebSocketEvent(_Event):
    """`$connect`, `$disconnect` or a message on `$default`."""

    request_context: WebSocketRequestContext = Field(alias="requestContext")
    body: str | None = None
    is_base64_encoded: bool = Field(default=False, alias="isBase64Encoded")

    @property
    def connection_id(self) -> str:
        return self.request_context.connection_id

    def text(self) -> str:
        if self.body is None:
            return ""
        if self.is_base64_encoded:
            return base64.b64decode(self.body).decode("utf-8", errors="replace")
        return self.body


class AgentAuthorizerContext(_Event):
    """What our authorizer puts in the context of an agent's connection."""

    instance_id: str
    workspace_id: str
    # The agent presented its rotated token: `$connect` adopts it (the authorizer reads only).
    rotated_token: bool = False


class WebSocketAuthorizerEvent(_Event):
    """A REQUEST authorizer's event for a WebSocket API's `$connect`."""

    type: Literal["REQUEST"]
    method_arn: str = Field(alias="methodArn")
    headers: dict[str, str] | None = None

    def header(self, name: str) -> str:
        return _lower(self.headers).get(name.lower(), "")


# --- API Gateway HTTP API (payload format 2.0) -----------------------------------------


class HttpDescription(_Event):
    method: str
    path: str


class HttpRequestContext(_Event):
    request_id: str = Field(alias="requestId")
    http: HttpDescription


class HttpApiEvent(_Event):
    version: Literal["2.0"]
    raw_path: str = Field(alias="rawPath")
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    is_base64_encoded: bool = Field(default=False, alias="isBase64Encoded")
    request_context: HttpRequestContext = Field(alias="requestContext")

    def header_map(self) -> dict[str, str]:
        """Headers by lower-case name (API Gateway v2 lower-cases them already; sam local
        and older clients may not)."""
        return _lower(self.headers)

    def raw_body(self) -> bytes:
        if self.body is None:
            return b""
        return base64.b64decode(self.body) if self.is_base64_encoded else self.body.encode()


# --- EventBridge ------------------------------------------------------------------------


class ScheduledEvent(_Event):
    """An EventBridge rule's schedule firing (template: `Type: Schedule`)."""

    source: Literal["aws.events"]
    detail_type: Literal["Scheduled Event"] = Field(alias="detail-type")
    time: str
    resources: list[str] = Field(default_factory=list)
