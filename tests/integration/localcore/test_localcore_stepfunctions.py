"""State machines run for real on moto, with their Lambda tasks on the real handlers."""

from __future__ import annotations

import json
import uuid

import pytest

from vmkit_local.testing import wait_for

WAITING = "arn:aws:states:us-east-1:123456789012:stateMachine:vmkit-local-WaitingStateMachine"
RETRYING = "arn:aws:states:us-east-1:123456789012:stateMachine:vmkit-local-retrying"


def start(aws, machine, payload):
    name = f"test-{uuid.uuid4()}"
    arn = aws("stepfunctions").start_execution(
        stateMachineArn=machine, name=name, input=json.dumps(payload)
    )
    return name, arn["executionArn"]


def finished(aws, execution_arn, timeout=15.0):
    sfn = aws("stepfunctions")

    def done():
        execution = sfn.describe_execution(executionArn=execution_arn)
        return execution if execution["status"] != "RUNNING" else None

    return wait_for(done, timeout=timeout, what=f"execution {execution_arn} to finish")


def parked_token(table, name):
    item = wait_for(lambda: table.get_item(Key={"pk": f"TOKEN#{name}", "sk": "token"}).get("Item"))
    return item["token"]


def test_wait_for_task_token_resumes_on_send_task_success(aws, table):
    name, execution_arn = start(aws, WAITING, {"timeout_s": 30})
    token = parked_token(table, name)

    assert (
        aws("stepfunctions").describe_execution(executionArn=execution_arn)["status"] == "RUNNING"
    )
    aws("stepfunctions").send_task_success(
        taskToken=token, output=json.dumps({"agent": "connected"})
    )

    execution = finished(aws, execution_arn)
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"])["agent"] == {"agent": "connected"}


def test_wait_for_task_token_fails_on_send_task_failure(aws, table):
    name, execution_arn = start(aws, WAITING, {"timeout_s": 30})
    token = parked_token(table, name)

    aws("stepfunctions").send_task_failure(
        taskToken=token, error="AgentRefused", cause="harden failed"
    )

    execution = finished(aws, execution_arn)
    assert execution["status"] == "FAILED"
    assert execution["error"] == "AgentRefused"


def test_wait_for_task_token_fails_on_timeout(aws, table):
    name, execution_arn = start(aws, WAITING, {"timeout_s": 1})
    parked_token(table, name)

    execution = finished(aws, execution_arn)
    assert execution["status"] == "FAILED"
    assert execution["error"] == "States.Timeout"


def test_a_used_token_cannot_resume_twice(aws, table):
    name, execution_arn = start(aws, WAITING, {"timeout_s": 30})
    token = parked_token(table, name)
    sfn = aws("stepfunctions")
    sfn.send_task_success(taskToken=token, output="{}")
    finished(aws, execution_arn)

    with pytest.raises(sfn.exceptions.ClientError) as caught:
        sfn.send_task_success(taskToken=token, output="{}")

    assert caught.value.response["Error"]["Code"] == "InvalidToken"


def test_retry_on_the_named_error_then_success(aws):
    _, execution_arn = start(
        aws, RETRYING, {"key": str(uuid.uuid4()), "fail_times": 1, "error": "TransientError"}
    )

    execution = finished(aws, execution_arn)
    assert execution["status"] == "SUCCEEDED"
    output = json.loads(execution["output"])
    assert output["result"] == {"attempts": 2}
    assert "handled_by" not in output


def test_catch_routes_an_error_that_is_not_retried(aws):
    _, execution_arn = start(
        aws, RETRYING, {"key": str(uuid.uuid4()), "fail_times": 5, "error": "PermanentError"}
    )

    output = json.loads(finished(aws, execution_arn)["output"])
    assert output["handled_by"] == "PermanentError catcher"
    assert output["error"]["Error"] == "PermanentError"
    assert json.loads(output["error"]["Cause"])["errorMessage"] == "attempt 1 failed"


def test_exhausted_retries_fall_to_the_task_failed_catcher(aws):
    _, execution_arn = start(
        aws, RETRYING, {"key": str(uuid.uuid4()), "fail_times": 5, "error": "TransientError"}
    )

    output = json.loads(finished(aws, execution_arn)["output"])
    assert output["handled_by"] == "States.TaskFailed catcher"
    assert output["error"]["Error"] == "TransientError"
    assert (
        json.loads(output["error"]["Cause"])["errorMessage"] == "attempt 3 failed"
    )  # 1 try + 2 retries


def test_task_calling_a_missing_function_fails_with_lambdas_error(aws):
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {
                    "FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:gone"
                },
                "End": True,
            }
        },
    }
    machine = aws("stepfunctions").create_state_machine(
        name=f"missing-{uuid.uuid4().hex[:8]}",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/vmkit-local-execution",
    )["stateMachineArn"]

    _, execution_arn = start(aws, machine, {})

    execution = finished(aws, execution_arn)
    assert execution["error"] == "Lambda.ResourceNotFoundException"
    assert "Function not found" in execution["cause"]
