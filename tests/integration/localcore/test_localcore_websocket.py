"""The WebSocket gateway through a websockets client and boto3's apigatewaymanagementapi."""

from __future__ import annotations

import json

import boto3
import pytest
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayWebSocketConnectEventModel,
    APIGatewayWebSocketDisconnectEventModel,
    APIGatewayWebSocketMessageEventModel,
)
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from vmkit_local.testing import wait_for

GOOD = {"Authorization": "Bearer good-token"}


def management(local_stack, url=None):
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=url or local_stack.ws_management_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def refusal(local_stack, url=None, headers=None):
    with pytest.raises(InvalidStatus) as caught:
        connect(url or local_stack.ws_url, additional_headers=headers or {}, open_timeout=10)
    response = caught.value.response
    return response.status_code, json.loads(response.body)


def echo_event(ws):
    ws.send(json.dumps({"action": "echo"}))
    return json.loads(ws.recv(timeout=10))["echo"]


def connection_id(ws):
    return echo_event(ws)["requestContext"]["connectionId"]


def stored_event(table, pk, sk):
    item = wait_for(lambda: table.get_item(Key={"pk": pk, "sk": sk}).get("Item"), what=f"{pk}/{sk}")
    return json.loads(item["event"])


# ----- opening handshake


def test_bad_token_is_refused_with_403(local_stack):
    assert refusal(local_stack, headers={"Authorization": "Bearer wrong"}) == (
        403,
        {"message": "Forbidden"},
    )


def test_missing_identity_source_is_refused_with_401(local_stack):
    assert refusal(local_stack) == (401, {"message": "Unauthorized"})


def test_authorizer_raising_unauthorized_gives_401(local_stack):
    assert refusal(local_stack, headers={"Authorization": "Bearer unauthorized"}) == (
        401,
        {"message": "Unauthorized"},
    )


def test_authorizer_crashing_gives_500(local_stack):
    status, _ = refusal(local_stack, headers={"Authorization": "Bearer explode"})

    assert status == 500


def test_unknown_stage_is_refused_with_403(local_stack):
    url = local_stack.ws_url.rsplit("/", 1)[0] + "/staging"

    assert refusal(local_stack, url=url, headers=GOOD)[0] == 403


def test_connect_handler_returning_non_2xx_refuses_the_upgrade(local_stack):
    status, body = refusal(local_stack, url=f"{local_stack.ws_url}?refuse=1", headers=GOOD)

    assert (status, body) == (409, {"message": "refused by $connect"})


def test_authorizer_and_connect_events_have_api_gateways_shapes(local_stack, table):
    with connect(f"{local_stack.ws_url}?agent=1", additional_headers=GOOD) as ws:
        connection = connection_id(ws)

    authorizer_event = stored_event(table, f"AUTHORIZER#{connection}", "event")
    assert authorizer_event["type"] == "REQUEST"
    assert authorizer_event["methodArn"].endswith("/production/$connect")
    assert authorizer_event["headers"]["Authorization"] == "Bearer good-token"
    assert authorizer_event["queryStringParameters"] == {"agent": "1"}
    connect_event = stored_event(table, f"CONNECTION#{connection}", "connect")
    parsed = APIGatewayWebSocketConnectEventModel.model_validate(connect_event)
    assert parsed.request_context.connection_id == connection
    assert connect_event["requestContext"]["authorizer"] == {
        "instance_id": "i-123",
        "workspace": "ws-1",
        "principalId": "agent-1",
        "integrationLatency": connect_event["requestContext"]["authorizer"]["integrationLatency"],
    }
    assert "Upgrade" not in connect_event["headers"]


# ----- messages


def test_route_with_a_route_response_answers_with_the_event_it_got(local_stack):
    with connect(local_stack.ws_url, additional_headers=GOOD) as ws:
        event = echo_event(ws)

    parsed = APIGatewayWebSocketMessageEventModel.model_validate(event)
    assert parsed.request_context.route_key == "echo"
    assert json.loads(parsed.body) == {"action": "echo"}
    assert event["requestContext"]["authorizer"]["principalId"] == "agent-1"


def test_message_posted_through_connections_reaches_the_client(local_stack):
    with connect(local_stack.ws_url, additional_headers=GOOD) as ws:
        management(local_stack).post_to_connection(
            ConnectionId=connection_id(ws), Data=b'{"call": "harden"}'
        )

        assert json.loads(ws.recv(timeout=10)) == {"call": "harden"}


def test_handler_posting_back_through_connections_reaches_the_client(local_stack):
    with connect(local_stack.ws_url, additional_headers=GOOD) as ws:
        ws.send(json.dumps({"action": "post", "text": "pong"}))

        assert json.loads(ws.recv(timeout=10)) == {"posted": "pong"}


def test_default_route_without_route_response_sends_nothing_back(local_stack):
    with connect(local_stack.ws_url, additional_headers=GOOD) as ws:
        ws.send("not json at all")  # goes to $default, which has no route response
        ws.send(json.dumps({"action": "post", "text": "after"}))

        assert json.loads(ws.recv(timeout=10)) == {"posted": "after"}


def test_failing_integration_tells_the_client_as_api_gateway_does(local_stack):
    with connect(local_stack.ws_url, additional_headers=GOOD) as ws:
        ws.send(json.dumps({"action": "crash"}))
        error = json.loads(ws.recv(timeout=10))

    assert error["message"] == "Internal server error"
    assert set(error) == {"message", "connectionId", "requestId"}


def test_large_post_is_delivered_whole_in_frames_of_at_most_32_kb(local_stack):
    data = json.dumps({"lines": ["x" * 1000] * 100}).encode()  # ~100 KB
    with connect(local_stack.ws_url, additional_headers=GOOD) as ws:
        management(local_stack).post_to_connection(ConnectionId=connection_id(ws), Data=data)

        assert ws.recv(timeout=10).encode() == data


def test_post_over_128_kb_is_payload_too_large(local_stack):
    with connect(local_stack.ws_url, additional_headers=GOOD) as ws:
        client = management(local_stack)
        with pytest.raises(client.exceptions.PayloadTooLargeException):
            client.post_to_connection(ConnectionId=connection_id(ws), Data=b"x" * (128 * 1024 + 1))


def test_message_in_frames_under_the_limits_is_routed(local_stack):
    message = json.dumps({"action": "echo", "padding": "y" * 60_000})
    fragments = [message[i : i + 30_000] for i in range(0, len(message), 30_000)]
    with connect(local_stack.ws_url, additional_headers=GOOD) as ws:
        ws.send(fragments)
        event = json.loads(ws.recv(timeout=10))["echo"]

    assert event["body"] == message


# ----- limits


def close_code(ws):
    with pytest.raises(ConnectionClosed) as caught:
        ws.recv(timeout=10)
    return caught.value.rcvd.code if caught.value.rcvd else None


def close_code_after_sending(ws, data):
    """The close code the gateway answers `data` with (it may close before `send` ends)."""
    with pytest.raises(ConnectionClosed) as caught:
        ws.send(data)
        ws.recv(timeout=10)
    return caught.value.rcvd.code


def test_frame_over_32_kb_closes_with_1009(local_stack):
    with connect(local_stack.ws_url, additional_headers=GOOD) as ws:
        assert close_code_after_sending(ws, "z" * (32 * 1024 + 1)) == 1009


def test_message_over_128_kb_in_small_frames_closes_with_1009(local_stack):
    with connect(local_stack.ws_url, additional_headers=GOOD) as ws:
        assert close_code_after_sending(ws, ["z" * 30_000] * 5) == 1009


def test_binary_frame_closes_with_1003(local_stack):
    with connect(local_stack.ws_url, additional_headers=GOOD) as ws:
        assert close_code_after_sending(ws, b"\x00\x01") == 1003


# ----- @connections and $disconnect


def test_get_connection_describes_it(local_stack):
    with connect(local_stack.ws_url, additional_headers=GOOD, user_agent_header="agent/1.0") as ws:
        described = management(local_stack).get_connection(ConnectionId=connection_id(ws))

    assert described["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "agent/1.0"}
    assert described["LastActiveAt"] >= described["ConnectedAt"]


def test_delete_connection_closes_it_and_runs_disconnect(local_stack, table):
    with connect(local_stack.ws_url, additional_headers=GOOD) as ws:
        connection = connection_id(ws)
        management(local_stack).delete_connection(ConnectionId=connection)

        assert close_code(ws) == 1000
    event = stored_event(table, f"CONNECTION#{connection}", "disconnect")
    assert event["requestContext"]["disconnectReason"] == "Connection deleted"


def test_closed_connection_is_gone(local_stack):
    with connect(local_stack.ws_url, additional_headers=GOOD) as ws:
        connection = connection_id(ws)
    client = management(local_stack)

    def gone():
        try:
            client.get_connection(ConnectionId=connection)
        except client.exceptions.GoneException as exc:
            return exc
        return None

    error = wait_for(gone)
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 410
    with pytest.raises(client.exceptions.GoneException):
        client.post_to_connection(ConnectionId=connection, Data=b"late")
    with pytest.raises(client.exceptions.GoneException):
        client.delete_connection(ConnectionId=connection)


def test_unknown_connection_is_gone(local_stack):
    client = management(local_stack)

    with pytest.raises(client.exceptions.GoneException):
        client.post_to_connection(ConnectionId="AAAAAAAAAAAAAAA=", Data=b"x")


def test_management_api_on_another_stage_is_forbidden(local_stack):
    client = management(
        local_stack, url=local_stack.ws_management_url.rsplit("/", 1)[0] + "/staging"
    )

    with pytest.raises(client.exceptions.ForbiddenException):
        client.post_to_connection(ConnectionId="AAAAAAAAAAAAAAA=", Data=b"x")


def test_client_close_runs_disconnect_with_the_clients_code(local_stack, table):
    with connect(local_stack.ws_url, additional_headers=GOOD) as ws:
        connection = connection_id(ws)
        ws.close(code=4000, reason="agent upgrading")

    event = stored_event(table, f"CONNECTION#{connection}", "disconnect")
    parsed = APIGatewayWebSocketDisconnectEventModel.model_validate(event)
    assert parsed.request_context.disconnect_status_code == 4000
    assert parsed.request_context.disconnect_reason == "agent upgrading"
    assert event["requestContext"]["authorizer"]["instance_id"] == "i-123"
