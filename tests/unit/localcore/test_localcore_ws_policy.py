"""Reading a REQUEST authorizer's policy as API Gateway does."""

from __future__ import annotations

import pytest
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerResponseWebSocket,
)

from vmkit_local.core.websocket.policy import InvalidAuthorizerResponse, decide

METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/production/$connect"


def policy(
    effect: str, resource: str | list[str] = METHOD_ARN, action: str = "execute-api:Invoke", **extra
):
    return {
        "principalId": "me",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": action, "Effect": effect, "Resource": resource}],
        },
        **extra,
    }


def test_powertools_allow_all_routes_is_allowed_with_its_context():
    response = APIGatewayAuthorizerResponseWebSocket.from_route_arn(
        METHOD_ARN, "agent-1", context={"n": 1}
    )
    response.allow_all_routes()

    decision = decide(response.asdict(), METHOD_ARN)

    assert decision.allowed
    assert decision.request_context_authorizer(5) == {
        "n": 1,
        "principalId": "agent-1",
        "integrationLatency": 5,
    }


def test_powertools_deny_all_routes_is_denied():
    response = APIGatewayAuthorizerResponseWebSocket.from_route_arn(METHOD_ARN, "agent-1")
    response.deny_all_routes()

    assert not decide(response.asdict(), METHOD_ARN).allowed


@pytest.mark.parametrize(
    ("response", "allowed"),
    [
        (policy("Allow"), True),
        (policy("Allow", "arn:aws:execute-api:us-east-1:123456789012:abc123/*"), True),
        (policy("Allow", "arn:aws:execute-api:*:*:abc123/production/$conn?ct"), True),
        (policy("Allow", action="execute-api:*"), True),
        (policy("Allow", "arn:aws:execute-api:us-east-1:123456789012:other/*"), False),
        (policy("Allow", action="s3:GetObject"), False),
        (policy("Deny"), False),
        ({"principalId": "me", "policyDocument": {"Statement": []}}, False),
    ],
)
def test_allowed_only_when_an_allow_statement_covers_the_method(response, allowed):
    assert decide(response, METHOD_ARN).allowed is allowed


def test_explicit_deny_wins_over_allow():
    response = policy("Allow")
    response["policyDocument"]["Statement"].append(
        {"Action": "*", "Effect": "Deny", "Resource": "*"}
    )

    assert not decide(response, METHOD_ARN).allowed


@pytest.mark.parametrize(
    ("response", "message"),
    [
        ("Allow", "not an object"),
        ({"policyDocument": {}}, "needs principalId and policyDocument"),
        ({"principalId": "me"}, "needs principalId and policyDocument"),
        (policy("Allow", context={"nested": {"a": 1}}), "context values"),
        (policy("Allow", context={"big": "x" * 9000}), "larger than 8 KB"),
    ],
)
def test_unusable_answers_are_errors(response, message):
    with pytest.raises(InvalidAuthorizerResponse, match=message):
        decide(response, METHOD_ARN)
