"""`python -m vmkit_local` as a user runs it: ready file, clean stop, state kept across restarts."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import boto3
import httpx
import pytest
from vmkit_local.testing import wait_for
from websockets.sync.client import connect

FIXTURES = Path(__file__).parents[2] / "fixtures" / "localcore"
WAITING = "vmkit-local-WaitingStateMachine"


class RunningStack:
    """The stack in a child process of its own session (so its whole tree is findable)."""

    def __init__(self, root: Path):
        self.state_file = root / "local.json"
        self.log = root / "stack.log"
        command = [
            sys.executable, "-m", "vmkit_local",
            "--template", str(FIXTURES / "template.yaml"),
            "--data-dir", str(root / "data"),
            "--state-file", str(self.state_file),
            "--app", "rest=fixture_rest_app:app",
            "--api-app", "HttpApi=rest",
        ]  # fmt: skip
        environment = {**os.environ, "PYTHONPATH": str(FIXTURES / "apps")}
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environment,
                start_new_session=True,
            )

    def wait_ready(self) -> dict:
        def ready():
            if self.process.poll() is not None:
                pytest.fail(f"stack exited with {self.process.returncode}:\n{self.log.read_text()}")
            return self.state_file.exists()

        wait_for(ready, timeout=30, what="local.json")
        return json.loads(self.state_file.read_text())

    def stop(self, signum: int) -> int:
        self.process.send_signal(signum)
        return self.process.wait(timeout=30)

    def processes_left(self) -> list[int]:
        """Processes still in the stack's process group (its own, from start_new_session)."""
        left = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == self.process.pid:  # pgrp
                left.append(int(entry.name))
        return left


def listening(url: str) -> bool:
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except ConnectionRefusedError:
        return False
    return True


def aws(state: dict, service: str):
    return boto3.client(
        service,
        endpoint_url=state["aws_endpoint_url"],
        region_name=state["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def urls(state: dict) -> list[str]:
    return [state[key] for key in ("aws_endpoint_url", "ws_url", "ws_management_url", "rest_url")]


def assert_everything_answers(state: dict) -> None:
    assert aws(state, "dynamodb").describe_table(TableName="vmkit-local-Table")["Table"][
        "TableStatus"
    ]
    assert httpx.get(state["rest_url"] + "/health").json()["table_name"] == "vmkit-local-Table"
    with connect(state["ws_url"], additional_headers={"Authorization": "Bearer good-token"}) as ws:
        ws.send(json.dumps({"action": "echo"}))
        assert json.loads(ws.recv(timeout=10))["echo"]["requestContext"]["routeKey"] == "echo"


def assert_stopped_cleanly(stack: RunningStack, state: dict, exit_code: int) -> None:
    assert exit_code == 0, stack.log.read_text()
    assert not stack.state_file.exists()
    assert stack.processes_left() == []
    assert [url for url in urls(state) if listening(url)] == [], stack.log.read_text()
    assert "threads still running" not in stack.log.read_text(), stack.log.read_text()


def test_stack_process_is_ready_when_its_file_appears_and_stops_cleanly_keeping_state(tmp_path):
    first = RunningStack(tmp_path)
    state = first.wait_ready()
    assert state["pid"] == first.process.pid
    assert_everything_answers(state)
    aws(state, "dynamodb").put_item(
        TableName="vmkit-local-Table",
        Item={"pk": {"S": "KEEP#1"}, "sk": {"S": "item"}, "n": {"N": "42"}},
    )
    sealed = aws(state, "kms").encrypt(
        KeyId="alias/vmkit-local-data",
        Plaintext=b"provider token",
        EncryptionContext={"record": "t1"},
    )["CiphertextBlob"]
    secret = aws(state, "secretsmanager").get_secret_value(
        SecretId="vmkit-local/github-webhook-secret"
    )
    aws(state, "stepfunctions").start_execution(  # still waiting on its token at stop
        stateMachineArn=f"arn:aws:states:us-east-1:123456789012:stateMachine:{WAITING}",
        input=json.dumps({"timeout_s": 3600}),
    )

    assert_stopped_cleanly(first, state, first.stop(signal.SIGTERM))

    second = RunningStack(tmp_path)
    restarted = second.wait_ready()
    item = aws(restarted, "dynamodb").get_item(
        TableName="vmkit-local-Table", Key={"pk": {"S": "KEEP#1"}, "sk": {"S": "item"}}
    )["Item"]
    assert item["n"] == {"N": "42"}
    opened = aws(restarted, "kms").decrypt(
        CiphertextBlob=sealed, EncryptionContext={"record": "t1"}
    )
    assert opened["Plaintext"] == b"provider token"
    assert (
        aws(restarted, "secretsmanager").get_secret_value(
            SecretId="vmkit-local/github-webhook-secret"
        )["SecretString"]
        == secret["SecretString"]
    )
    assert restarted["github_webhook_secret"] == state["github_webhook_secret"]

    assert_stopped_cleanly(second, restarted, second.stop(signal.SIGINT))


def test_second_stack_on_the_same_state_file_is_refused(tmp_path):
    first = RunningStack(tmp_path)
    state = first.wait_ready()

    second = subprocess.run(
        [sys.executable, "-m", "vmkit_local", "--template", str(FIXTURES / "template.yaml"),
         "--no-data-dir", "--state-file", str(first.state_file)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert second.returncode == 1, second.stderr
    assert f"pid {first.process.pid}" in second.stderr, second.stderr
    assert json.loads(first.state_file.read_text()) == state
    assert_stopped_cleanly(first, state, first.stop(signal.SIGTERM))


def test_second_stack_in_one_process_is_refused(local_stack):
    from vmkit_local.errors import LocalStackError
    from vmkit_local.stack import LocalStack, StackConfig

    with pytest.raises(LocalStackError, match="already running in this process"):
        LocalStack(StackConfig(template=FIXTURES / "template.yaml")).start()
    assert local_stack.client("dynamodb").list_tables()["TableNames"] == ["vmkit-local-Table"]


def test_template_the_stack_cannot_build_fails_with_a_clear_message_and_leaves_nothing(tmp_path):
    template = tmp_path / "template.yaml"
    template.write_text(
        (FIXTURES / "template.yaml")
        .read_text()
        .replace("Runtime: python3.11", "Runtime: nodejs20.x")
    )
    state_file = tmp_path / "local.json"

    result = subprocess.run(
        [sys.executable, "-m", "vmkit_local", "--template", str(template), "--no-data-dir",
         "--state-file", str(state_file)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert result.returncode == 1
    assert "Runtime 'nodejs20.x' cannot run in-process" in result.stderr
    assert not state_file.exists()
