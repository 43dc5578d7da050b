"""Executions on AWS Step Functions (boto3)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from vmkit.errors import ProviderError

# The wait had already ended: timed out, the execution stopped, or the token was used.
_WAIT_ENDED = {"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"}
_MAX_CAUSE = 32768  # Step Functions' limit on `cause`


class StepFunctionsExecutions:
    def __init__(self, client: Any):
        self.client = client

    def start(self, machine_arn: str, name: str, payload: dict[str, Any]) -> None:
        try:
            self.client.start_execution(
                stateMachineArn=machine_arn, name=name, input=json.dumps(payload)
            )
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            raise ProviderError(
                f"could not start the state machine: {code}",
                provider="stepfunctions",
                transient=code in {"ThrottlingException", "ServiceUnavailable"},
            ) from exc

    def stop(self, execution_arn: str, *, error: str, cause: str) -> bool:
        try:
            self.client.stop_execution(
                executionArn=execution_arn, error=error, cause=cause[:_MAX_CAUSE]
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ExecutionDoesNotExist":
                return False
            raise
        return True

    def status(self, execution_arn: str) -> str | None:
        try:
            found = self.client.describe_execution(executionArn=execution_arn)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ExecutionDoesNotExist":
                return None
            raise ProviderError(
                f"could not look up the execution: {exc.response['Error']['Code']}",
                provider="stepfunctions",
                transient=True,
            ) from exc
        return str(found["status"])

    def succeed(self, task_token: str, output: dict[str, Any]) -> bool:
        return self._resume(
            self.client.send_task_success, taskToken=task_token, output=json.dumps(output)
        )

    def fail(self, task_token: str, *, error: str, cause: str) -> bool:
        return self._resume(
            self.client.send_task_failure,
            taskToken=task_token,
            error=error,
            cause=cause[:_MAX_CAUSE],
        )

    @staticmethod
    def _resume(call: Any, **kwargs: Any) -> bool:
        try:
            call(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in _WAIT_ENDED:
                return False
            raise
        return True
