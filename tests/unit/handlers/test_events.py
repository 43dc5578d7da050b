"""The sample events in `events/` have AWS's real shapes, and the handlers' models read them.

Each parses with the model its handler uses and with Powertools' parser model for the
same source (built from events captured from AWS); a missing field and an empty event
are refused with a validation error, not a `KeyError` deep in a handler.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
)
from aws_lambda_powertools.utilities.parser import models as powertools
from pydantic import ValidationError

from tests.support.events import LambdaContext, event_names, load_event
from vmkit.handlers.events import (
    AgentAuthorizerContext,
    HttpApiEvent,
    ScheduledEvent,
    WebSocketAuthorizerEvent,
    WebSocketEvent,
)
from vmkit.services.orchestration import StepInput

SAMPLES = {
    "api-list-environments": (HttpApiEvent, powertools.APIGatewayProxyEventV2Model),
    "webhook-workflow-run-completed": (HttpApiEvent, powertools.APIGatewayProxyEventV2Model),
    "mcp-tools-list": (HttpApiEvent, powertools.LambdaFunctionUrlModel),
    "ws-authorizer": (WebSocketAuthorizerEvent, "websocket authorizer"),
    "ws-connect": (WebSocketEvent, powertools.APIGatewayWebSocketConnectEventModel),
    "ws-disconnect": (WebSocketEvent, powertools.APIGatewayWebSocketDisconnectEventModel),
    "ws-message-register": (WebSocketEvent, powertools.APIGatewayWebSocketMessageEventModel),
    "schedule-reconcile": (ScheduledEvent, powertools.EventBridgeModel),
    "step-load-context": (StepInput, None),
    "step-wait-for-agent": (StepInput, None),
    "step-mark-failed": (StepInput, None),
}


def test_every_sample_event_is_covered():
    assert sorted(SAMPLES) == event_names()


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_a_sample_parses_with_its_handlers_model_and_with_powertools(name):
    ours, theirs = SAMPLES[name]
    event = load_event(name)
    ours.model_validate(event)
    if theirs == "websocket authorizer":
        # Powertools' parser models the REST API authorizer only; its data class reads
        # the WebSocket one (what the captured event in its tests is read with).
        request = APIGatewayAuthorizerRequestEvent(event)
        assert request.method_arn.endswith("/$connect") and request.headers["Authorization"]
    elif theirs is not None:
        theirs.model_validate(event)


@pytest.mark.parametrize("name", sorted(n for n, (_, p) in SAMPLES.items() if p is not None))
def test_an_empty_event_is_refused(name):
    ours, _ = SAMPLES[name]
    with pytest.raises(ValidationError):
        ours.model_validate({})


@pytest.mark.parametrize(
    ("name", "missing"),
    [
        ("ws-connect", "requestContext"),
        ("ws-authorizer", "methodArn"),
        ("api-list-environments", "rawPath"),
        ("schedule-reconcile", "detail-type"),
    ],
)
def test_an_event_missing_what_its_handler_reads_is_refused(name, missing):
    ours, _ = SAMPLES[name]
    event = load_event(name)
    del event[missing]
    with pytest.raises(ValidationError):
        ours.model_validate(event)


def test_the_connect_event_carries_the_agents_authorizer_context():
    event = WebSocketEvent.model_validate(load_event("ws-connect"))
    agent = AgentAuthorizerContext.model_validate(event.request_context.authorizer)
    assert agent.instance_id.startswith("ins_") and agent.workspace_id.startswith("ws_")


def test_the_sample_webhook_is_signed_with_the_documented_secret():
    event = HttpApiEvent.model_validate(load_event("webhook-workflow-run-completed"))
    headers = event.header_map()
    expected = hmac.new(b"sample-webhook-secret", event.raw_body(), hashlib.sha256).hexdigest()
    assert headers["x-hub-signature-256"] == f"sha256={expected}"
    assert headers["x-github-event"] == "workflow_run"


def test_a_base64_body_is_decoded_as_api_gateway_sends_binary_bodies():
    import base64

    event = load_event("webhook-workflow-run-completed")
    raw = event["body"].encode()
    encoded = {**event, "body": base64.b64encode(raw).decode(), "isBase64Encoded": True}
    assert HttpApiEvent.model_validate(encoded).raw_body() == raw


def test_the_authorizer_handler_denies_an_unknown_token_from_the_sample_event(aws):
    from tests.support.modules import load_function

    authorizer = load_function("ws", "authorizer")
    policy = authorizer(load_event("ws-authorizer"), LambdaContext())
    assert policy["principalId"] == "anonymous"
    assert policy["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert policy["policyDocument"]["Statement"][0]["Resource"].endswith("/agents/$connect")
