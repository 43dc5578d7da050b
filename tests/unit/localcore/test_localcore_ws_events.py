"""The gateway's events have the shapes of API Gateway's real ones and parse with Powertools."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
)
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayWebSocketConnectEventModel,
    APIGatewayWebSocketDisconnectEventModel,
    APIGatewayWebSocketMessageEventModel,
)

from vmkit_local.core.websocket import events
from vmkit_local.core.websocket.events import ConnectionInfo

CAPTURED = Path(__file__).parents[2] / "fixtures" / "localcore" / "events"

INFO = ConnectionInfo(
    connection_id="BFaT_fALIAMCKug=",
    api_id="ab20a57e31",
    stage="production",
    domain_name="127.0.0.1:8001",
    source_ip="127.0.0.1",
    user_agent="Python/3.11 websockets/17.4",
    connected_at_ms=1731332735513,
    port=8001,
    trace_id="Root=1-6731ebfc-08e1e656421db73c5d2eef31",
)
HEADERS = [
    ("Host", "127.0.0.1:8001"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", "+W5xw47OHh3OTFsWKjGu9Q=="),
    ("Sec-WebSocket-Version", "13"),
    ("Authorization", "Bearer t"),
]
AUTHORIZER = {"principalId": "agent-1", "instance_id": "i-1", "integrationLatency": 3}


def captured(name: str) -> dict:
    return json.loads((CAPTURED / f"{name}.json").read_text())


def shape(value):
    """Keys (recursively) and value types: what two events must share to look alike."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    return type(value).__name__


def test_connect_event_parses_and_has_the_captured_shape():
    event = events.connect_event(INFO, HEADERS, {}, None)

    APIGatewayWebSocketConnectEventModel.model_validate(event)
    real = captured("apiGatewayWebSocketApiConnect")
    assert shape(event["requestContext"]) == {
        **shape(real["requestContext"]),
        "identity": {"sourceIp": "str", "userAgent": "str"},
    }
    assert set(event) == set(real)
    assert "Upgrade" not in event["headers"] and "Connection" not in event["headers"]
    assert event["headers"]["X-Forwarded-For"] == "127.0.0.1"


def test_connect_event_carries_the_query_string_and_authorizer_when_there_are_some():
    event = events.connect_event(INFO, HEADERS, {"token": ["a", "b"]}, AUTHORIZER)

    assert event["queryStringParameters"] == {"token": "b"}
    assert event["multiValueQueryStringParameters"] == {"token": ["a", "b"]}
    assert event["requestContext"]["authorizer"] == AUTHORIZER
    APIGatewayWebSocketConnectEventModel.model_validate(event)


def test_message_event_parses_and_has_the_captured_shape():
    event = events.message_event(INFO, "chat", '{"action": "chat"}', None)

    parsed = APIGatewayWebSocketMessageEventModel.model_validate(event)
    assert parsed.request_context.route_key == "chat"
    assert parsed.body == '{"action": "chat"}'
    real = captured("apiGatewayWebSocketApiMessage")
    assert set(event) == set(real)
    assert set(event["requestContext"]) - {"identity"} == set(real["requestContext"]) - {"identity"}


def test_disconnect_event_parses_and_has_the_captured_shape():
    event = events.disconnect_event(
        INFO, 1005, "Client-side close frame status not set", AUTHORIZER
    )

    parsed = APIGatewayWebSocketDisconnectEventModel.model_validate(event)
    assert parsed.request_context.disconnect_status_code == 1005
    real = captured("apiGatewayWebSocketApiDisconnect")
    assert set(event) == set(real)
    assert set(event["headers"]) == set(real["headers"])
    assert set(event["requestContext"]) - {"authorizer", "identity"} == set(
        real["requestContext"]
    ) - {"identity"}


def test_authorizer_event_has_the_captured_shape_and_reads_with_powertools():
    method_arn = "arn:aws:execute-api:us-east-1:123456789012:ab20a57e31/production/$connect"
    event = events.authorizer_event(INFO, HEADERS, {}, method_arn)

    real = captured("apiGatewayAuthorizerWebSocketEvent")
    assert set(event) == set(real)
    assert set(event["requestContext"]) - {"identity"} == set(real["requestContext"]) - {"identity"}
    request = APIGatewayAuthorizerRequestEvent(event)
    assert request.method_arn == method_arn
    assert request.get_header_value("authorization") == "Bearer t"
    assert event["headers"]["content-length"] == "0"


@pytest.mark.parametrize(
    "name",
    [
        "apiGatewayWebSocketApiConnect",
        "apiGatewayWebSocketApiMessage",
        "apiGatewayWebSocketApiDisconnect",
    ],
)
def test_captured_events_parse_with_the_same_models(name):
    model = {
        "apiGatewayWebSocketApiConnect": APIGatewayWebSocketConnectEventModel,
        "apiGatewayWebSocketApiMessage": APIGatewayWebSocketMessageEventModel,
        "apiGatewayWebSocketApiDisconnect": APIGatewayWebSocketDisconnectEventModel,
    }[name]

    model.model_validate(captured(name))


def test_ids_and_times_look_like_api_gateways():
    identifier = events.new_id()

    assert len(identifier) == 16 and identifier.endswith("=")
    assert events.request_time(1737995987617) == "27/Jan/2025:16:39:47 +0000"
