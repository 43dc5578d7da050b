"""Idle and maximum connection times, on a gateway of their own with short limits."""

from __future__ import annotations

import json

import pytest
from vmkit_local.ports import bind_listener
from vmkit_local.testing import wait_for
from vmkit_local.websocket import GatewayLimits, WebSocketGateway
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

GOOD = {"Authorization": "Bearer good-token"}


@pytest.fixture
def short_lived_gateway(local_stack):
    def start(limits):
        gateway = WebSocketGateway(
            local_stack.spec.websocket_apis()[0],
            local_stack.runtime.call,
            bind_listener("127.0.0.1"),
            bind_listener("127.0.0.1"),
            region="us-east-1",
            account_id="123456789012",
            limits=limits,
        )
        gateway.start()
        started.append(gateway)
        return gateway

    started: list[WebSocketGateway] = []
    yield start
    for gateway in started:
        gateway.stop()


def closed_with(ws):
    with pytest.raises(ConnectionClosed) as caught:
        ws.recv(timeout=10)
    return caught.value.rcvd.code


def disconnect_reason(table, connection):
    item = wait_for(
        lambda: table.get_item(Key={"pk": f"CONNECTION#{connection}", "sk": "disconnect"}).get(
            "Item"
        )
    )
    return json.loads(item["event"])["requestContext"]["disconnectReason"]


def connection_of(ws):
    ws.send(json.dumps({"action": "echo"}))
    return json.loads(ws.recv(timeout=10))["echo"]["requestContext"]["connectionId"]


def test_idle_connection_is_closed(short_lived_gateway, table):
    gateway = short_lived_gateway(GatewayLimits(idle_timeout_s=0.5, max_connection_s=60))

    with connect(gateway.url, additional_headers=GOOD) as ws:
        connection = connection_of(ws)
        assert closed_with(ws) == 1001

    assert disconnect_reason(table, connection) == "Idle timeout"


def test_connection_is_closed_at_its_maximum_duration_before_going_idle(short_lived_gateway, table):
    gateway = short_lived_gateway(GatewayLimits(idle_timeout_s=60, max_connection_s=1.0))

    with connect(gateway.url, additional_headers=GOOD) as ws:
        connection = connection_of(ws)
        assert closed_with(ws) == 1001

    assert disconnect_reason(table, connection) == "Connection duration exceeded"


def test_stopping_the_gateway_closes_connections_and_runs_disconnect(short_lived_gateway, table):
    gateway = short_lived_gateway(GatewayLimits())

    with connect(gateway.url, additional_headers=GOOD) as ws:
        connection = connection_of(ws)
        gateway.stop()
        assert closed_with(ws) == 1001

    assert disconnect_reason(table, connection) == "Going away"
