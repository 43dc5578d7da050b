"""Reading a Lambda REQUEST authorizer's answer the way API Gateway does.

The answer is an IAM policy: the connection is allowed when some `Allow` statement
for `execute-api:Invoke` covers the `$connect` method ARN and no `Deny` does. The
optional `context` (string, number and boolean values only) is handed to the
integrations as `requestContext.authorizer`, next to `principalId`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

AUTHORIZER_RESULT_LIMIT = 8 * 1024  # API Gateway quota: Lambda authorizer result size


class InvalidAuthorizerResponse(ValueError):
    """The authorizer's answer is not a policy API Gateway can use (it answers 500)."""


@dataclass(frozen=True)
class AuthorizerDecision:
    allowed: bool
    principal_id: str = ""
    context: dict[str, Any] = field(default_factory=dict)

    def request_context_authorizer(self, latency_ms: int) -> dict[str, Any]:
        return {**self.context, "principalId": self.principal_id, "integrationLatency": latency_ms}


def _matches(pattern: str, value: str) -> bool:
    """IAM resource/action matching: `*` any run of characters, `?` one character."""
    regex = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern
    )
    return re.fullmatch(regex, value) is not None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _covers(statement: dict[str, Any], method_arn: str) -> bool:
    actions = [str(action) for action in _as_list(statement.get("Action", []))]
    resources = [str(resource) for resource in _as_list(statement.get("Resource", []))]
    return any(_matches(action, "execute-api:Invoke") for action in actions) and any(
        _matches(resource, method_arn) for resource in resources
    )


def decide(response: Any, method_arn: str) -> AuthorizerDecision:
    if not isinstance(response, dict):
        raise InvalidAuthorizerResponse("authorizer result is not an object")
    if len(json.dumps(response)) > AUTHORIZER_RESULT_LIMIT:
        raise InvalidAuthorizerResponse("authorizer result is larger than 8 KB")
    document = response.get("policyDocument")
    if not isinstance(document, dict) or "principalId" not in response:
        raise InvalidAuthorizerResponse("authorizer result needs principalId and policyDocument")
    statements = [s for s in _as_list(document.get("Statement", [])) if isinstance(s, dict)]
    context = response.get("context") or {}
    if not isinstance(context, dict) or any(
        not isinstance(value, str | int | float | bool) for value in context.values()
    ):
        raise InvalidAuthorizerResponse(
            "authorizer context values must be strings, numbers or booleans"
        )
    denied = any(s.get("Effect") == "Deny" and _covers(s, method_arn) for s in statements)
    allowed = any(s.get("Effect") == "Allow" and _covers(s, method_arn) for s in statements)
    return AuthorizerDecision(allowed and not denied, str(response["principalId"]), dict(context))
