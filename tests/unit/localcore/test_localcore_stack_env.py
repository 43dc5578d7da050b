"""Functions share the stack's process, so their environments must agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmkit_local.core.errors import LocalStackError
from vmkit_local.core.resources import FunctionSpec
from vmkit_local.core.stack import merge_function_environments


def function(logical_id: str, **environment: str) -> FunctionSpec:
    return FunctionSpec(
        logical_id=logical_id,
        name=logical_id.lower(),
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:{logical_id.lower()}",
        code_uri=Path("."),
        handler="app.handler",
        timeout_s=3,
        memory_mb=128,
        environment=environment,
    )


def test_agreeing_environments_merge():
    merged = merge_function_environments(
        [
            function("Api", TABLE_NAME="t", LOG_LEVEL="INFO"),
            function("Steps", TABLE_NAME="t", QUEUE="q"),
        ],
        {"AWS_REGION": "us-east-1"},
    )

    assert merged == {"TABLE_NAME": "t", "LOG_LEVEL": "INFO", "QUEUE": "q"}


def test_conflicting_values_name_both_functions_but_not_the_values():
    functions = [
        function("Api", SECRET_NAME="first-secret"),
        function("Mcp", SECRET_NAME="second-secret"),
    ]

    with pytest.raises(LocalStackError) as caught:
        merge_function_environments(functions, {})

    message = str(caught.value)
    assert "Api and Mcp set SECRET_NAME" in message
    assert "first-secret" not in message and "second-secret" not in message


def test_a_function_may_not_override_what_the_stack_sets():
    with pytest.raises(
        LocalStackError, match="Api sets AWS_ENDPOINT_URL, which the local stack sets"
    ):
        merge_function_environments(
            [function("Api", AWS_ENDPOINT_URL="https://example")], {"AWS_ENDPOINT_URL": "x"}
        )
