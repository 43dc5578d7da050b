"""Time limits of the gateway, on gateways of their own with short limits.

The integrations are a stand-in callable here (the gateway takes any `invoke`), which
allows every connection and records `$disconnect` events, so these tests need no AWS.
"""

from __future__ import annotations

import json
import queue
import threading

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from vmkit_local.core.functions import Invocation
from vmkit_local.core.listeners import bind_listener
from vmkit_local.core.resources import WebSocketApiSpec, WebSocketAuthorizer, WebSocketRoute
from vmkit_local.core.websocket import GatewayLimits, WebSocketGateway

API = WebSocketApiSpec(
    logical_id="Api",
    api_id="abc123",
    stage="production",
    route_selection_expression="$request.body.action",
    routes={
        key: WebSocketRoute(key, function_name=key.strip("$"))
        for key in ("$connect", "$disconnect", "$default")
    },
    authorizer=WebSocketAuthorizer("authorizer", ("route.request.header.Authorization",)),
)
GOOD = {"Authorization": "Bearer anything"}


class Integrations:
    """Allows every connection; `$default` blocks until released when asked to."""

    def __init__(self) -> None:
        self.disconnects: queue.Queue[dict] = queue.Queue()
        self.release = threading.Event()

    def __call__(self, function_name: str, event: dict) -> Invocation:
        if function_name == "authorizer":
            statement = {
                "Action": "execute-api:Invoke",
                "Effect": "Allow",
                "Resource": event["methodArn"],
            }
            policy = {
                "principalId": "p",
                "policyDocument": {"Version": "2012-10-17", "Statement": [statement]},
            }
            return Invocation(json.dumps(policy).encode())
        if function_name == "disconnect":
            self.disconnects.put(event)
        if function_name == "default" and event["body"] == "block":
            self.release.wait(10)
        if function_name == "connect" and event.get("queryStringParameters", {}).get("block"):
            self.release.wait(10)
        return Invocation(json.dumps({"statusCode": 200}).encode())

    def disconnect_reason(self) -> str:
        return self.disconnects.get(timeout=10)["requestContext"]["disconnectReason"]


@pytest.fixture
def gateway_with():
    started: list[tuple[WebSocketGateway, Integrations]] = []

    def start(**limits):
        integrations = Integrations()
        gateway = WebSocketGateway(
            API,
            integrations,
            bind_listener("127.0.0.1"),
            bind_listener("127.0.0.1"),
            region="us-east-1",
            account_id="123456789012",
            limits=GatewayLimits(**limits),
        )
        gateway.start()
        started.append((gateway, integrations))
        return gateway, integrations

    yield start
    for gateway, integrations in started:
        integrations.release.set()
        gateway.stop()


def closed_with(ws) -> int:
    with pytest.raises(ConnectionClosed) as caught:
        ws.recv(timeout=10)
    return caught.value.rcvd.code


def test_idle_connection_is_closed(gateway_with):
    gateway, integrations = gateway_with(idle_timeout_s=0.3, max_connection_s=60)

    with connect(gateway.url, additional_headers=GOOD) as ws:
        assert closed_with(ws) == 1001

    assert integrations.disconnect_reason() == "Idle timeout"


def test_connection_is_closed_at_its_maximum_duration_before_going_idle(gateway_with):
    gateway, integrations = gateway_with(idle_timeout_s=60, max_connection_s=0.5)

    with connect(gateway.url, additional_headers=GOOD) as ws:
        assert closed_with(ws) == 1001

    assert integrations.disconnect_reason() == "Connection duration exceeded"


def test_stopping_the_gateway_closes_connections_and_runs_disconnect(gateway_with):
    gateway, integrations = gateway_with()

    with connect(gateway.url, additional_headers=GOOD) as ws:
        gateway.stop()
        assert closed_with(ws) == 1001

    assert integrations.disconnect_reason() == "Going away"


def test_slow_integration_tells_the_client_the_request_timed_out(gateway_with):
    gateway, integrations = gateway_with(integration_timeout_s=0.3)

    with connect(gateway.url, additional_headers=GOOD) as ws:
        ws.send("block")
        error = json.loads(ws.recv(timeout=10))
        integrations.release.set()

    assert error["message"] == "Endpoint request timed out"


def test_slow_connect_integration_refuses_the_upgrade_with_504(gateway_with):
    gateway, _ = gateway_with(integration_timeout_s=0.3)

    with pytest.raises(InvalidStatus) as caught:
        connect(f"{gateway.url}?block=1", additional_headers=GOOD)

    assert caught.value.response.status_code == 504
