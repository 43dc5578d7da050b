"""boto3's Lambda client against the local stack runs the template's real handlers."""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError

from vmkit_local.testing import wait_for

ECHO = "vmkit-local-EchoFunction"


def invoke(aws, function_name, payload=None, **kwargs):
    response = aws("lambda").invoke(
        FunctionName=function_name, Payload=json.dumps(payload or {}).encode(), **kwargs
    )
    return response, json.loads(response["Payload"].read() or b"null")


def test_invoke_runs_the_handler_with_a_lambda_context(aws):
    response, body = invoke(aws, ECHO, {"hello": "world"})

    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert response["ExecutedVersion"] == "$LATEST"
    assert body["event"] == {"hello": "world"}
    context = body["context"]
    assert context["function_name"] == ECHO
    assert context["function_version"] == "$LATEST"
    assert (
        context["invoked_function_arn"] == f"arn:aws:lambda:us-east-1:123456789012:function:{ECHO}"
    )
    assert context["memory_limit_in_mb"] == "256"
    assert context["log_group_name"] == f"/aws/lambda/{ECHO}"
    assert uuid.UUID(context["aws_request_id"])
    assert 0 < context["remaining_ms"] <= 5000  # the function's Timeout is 5 s


def test_handler_environment_is_the_templates_with_local_urls(aws, local_stack):
    _, body = invoke(aws, ECHO)

    env = body["env"]
    assert env["GREETING"] == "hello"  # the function's own variable
    assert env["TABLE_NAME"] == "vmkit-local-Table"  # Globals, !Ref to the table
    assert env["KMS_KEY_ID"] == "alias/vmkit-local-data"
    assert env["WS_MANAGEMENT_URL"] == local_stack.ws_management_url
    assert env["REST_URL"] == local_stack.app_urls["rest"]


def test_parameter_overrides_reach_functions_with_stack_facts_filled_in(aws, local_stack):
    _, body = invoke(aws, ECHO)

    assert body["env"]["EXTERNAL_API_URL"] == f"{local_stack.app_urls['rest']}/external"
    assert body["env"]["LOG_LEVEL"] == "DEBUG"


def test_warm_invocations_reuse_the_loaded_module(aws):
    _, first = invoke(aws, ECHO)
    _, second = invoke(aws, ECHO)

    assert second["warm_invocations"] == first["warm_invocations"] + 1


def test_functions_sharing_a_file_get_separate_module_instances(aws):
    _, echo_before = invoke(aws, ECHO)
    invoke(aws, "vmkit-local-ApiFunction")
    _, echo_after = invoke(aws, ECHO)

    assert echo_after["warm_invocations"] == echo_before["warm_invocations"] + 1


@pytest.mark.parametrize(
    "function_name",
    [
        f"arn:aws:lambda:us-east-1:123456789012:function:{ECHO}",
        f"arn:aws:lambda:us-east-1:123456789012:function:{ECHO}:live",
        f"{ECHO}:live",
        f"123456789012:function:{ECHO}",
    ],
)
def test_invoke_accepts_arns_and_qualifiers(aws, function_name):
    response, body = invoke(aws, function_name)

    assert "FunctionError" not in response
    assert body["context"]["invoked_function_arn"].startswith(
        f"arn:aws:lambda:us-east-1:123456789012:function:{ECHO}"
    )
    if function_name.endswith(":live"):
        assert body["context"]["invoked_function_arn"].endswith(":live")


def test_handler_exception_comes_back_as_an_unhandled_function_error(aws):
    response, body = invoke(
        aws,
        "vmkit-local-FailingFunction",
        {"key": str(uuid.uuid4()), "fail_times": 1, "error": "PermanentError"},
    )

    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "PermanentError"
    assert body["errorMessage"] == "attempt 1 failed"
    assert uuid.UUID(body["requestId"])
    assert len(body["stackTrace"]) == 1  # the handler's own frames only
    assert "failing.py" in body["stackTrace"][0]


def test_handler_running_past_its_timeout_is_reported_as_lambda_does(aws):
    response, body = invoke(aws, "vmkit-local-SlowFunction", {"seconds": 1.5})

    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in body["errorMessage"]


def test_async_invocation_is_accepted_and_runs(aws, table):
    key = str(uuid.uuid4())
    response = aws("lambda").invoke(
        FunctionName="vmkit-local-record-token",
        InvocationType="Event",
        Payload=json.dumps({"key": key, "token": "async"}).encode(),
    )

    assert response["StatusCode"] == 202
    item = wait_for(lambda: table.get_item(Key={"pk": f"TOKEN#{key}", "sk": "token"}).get("Item"))
    assert item["token"] == "async"


def test_dry_run_checks_the_function_exists(aws):
    response = aws("lambda").invoke(FunctionName=ECHO, InvocationType="DryRun")

    assert response["StatusCode"] == 204


def test_unknown_function_is_resource_not_found(aws):
    with pytest.raises(ClientError) as caught:
        invoke(aws, "no-such-function")

    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert "no-such-function" in caught.value.response["Error"]["Message"]


def test_payload_that_is_not_json_is_refused(aws):
    with pytest.raises(ClientError) as caught:
        aws("lambda").invoke(FunctionName=ECHO, Payload=b"{not json")

    assert caught.value.response["Error"]["Code"] == "InvalidRequestContentException"


def test_template_functions_are_listed_by_the_lambda_api(aws):
    names = {function["FunctionName"] for function in aws("lambda").list_functions()["Functions"]}

    assert {ECHO, "vmkit-local-record-token", "vmkit-local-WsAuthorizerFunction"} <= names
