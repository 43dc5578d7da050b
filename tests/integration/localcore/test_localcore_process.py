"""The stack as a user runs it: ready file, clean stop, state kept across restarts."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from websockets.sync.client import connect

from vmkit_local.testing import StackProcess, stack_process_arguments, wait_for

FIXTURES = Path(__file__).parents[2] / "fixtures" / "localcore"
WAITING = "arn:aws:states:us-east-1:123456789012:stateMachine:vmkit-local-WaitingStateMachine"


def stack_process(root: Path, **settings) -> StackProcess:
    return StackProcess(
        root,
        template=FIXTURES / "template.yaml",
        data_dir=root / "data",
        arguments=stack_process_arguments(
            apps={"rest": "fixture_rest_app:app"}, api_apps={"HttpApi": "rest"}, **settings
        ),
        python_path=[FIXTURES / "apps"],
    )


def processes_in_group(group: int) -> list[int]:
    """Processes of a process group (the stack's own, made by start_new_session)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[2]) == group:
            members.append(int(entry.name))
    return members


def listening(url: str) -> bool:
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except ConnectionRefusedError:
        return False
    return True


def urls(stack: StackProcess) -> list[str]:
    return [stack.aws_url, stack.ws_url, stack.ws_management_url, stack.app_urls["rest"]]


def assert_everything_answers(stack: StackProcess) -> None:
    table = stack.client("dynamodb").describe_table(TableName="vmkit-local-Table")["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert httpx.get(stack.app_urls["rest"] + "/health").json()["table_name"] == "vmkit-local-Table"
    with connect(stack.ws_url, additional_headers={"Authorization": "Bearer good-token"}) as ws:
        ws.send(json.dumps({"action": "echo"}))
        assert json.loads(ws.recv(timeout=10))["echo"]["requestContext"]["routeKey"] == "echo"


def assert_stopped_cleanly(stack: StackProcess, exit_code: int) -> None:
    log = stack.log()
    assert exit_code == 0, log
    assert not stack.state_file.exists()
    assert processes_in_group(stack.pid) == []
    assert [url for url in urls(stack) if listening(url)] == [], log
    assert "threads still running" not in log, log


def test_stack_is_ready_when_its_file_appears_and_stops_cleanly_keeping_state(tmp_path):
    first = stack_process(tmp_path).start()
    assert first.state["pid"] == first.pid
    assert_everything_answers(first)
    first.client("dynamodb").put_item(
        TableName="vmkit-local-Table",
        Item={
            "pk": {"S": "KEEP#1"},
            "sk": {"S": "item"},
            "n": {"N": "42"},
            "b": {"B": b"\x00\x01"},
        },
    )
    sealed = first.client("kms").encrypt(
        KeyId="alias/vmkit-local-data",
        Plaintext=b"provider token",
        EncryptionContext={"record": "t1"},
    )["CiphertextBlob"]
    secret_id = "vmkit-local/github-webhook-secret"
    secret = first.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
    first.client("ssm").put_parameter(
        Name="/vmkit-local/apps-domain", Value="changed", Overwrite=True
    )
    first.client("stepfunctions").start_execution(  # still waiting on its token at stop
        stateMachineArn=WAITING, input=json.dumps({"timeout_s": 3600})
    )

    assert_stopped_cleanly(first, first.stop(signal.SIGTERM))

    second = stack_process(tmp_path).start()
    item = second.client("dynamodb").get_item(
        TableName="vmkit-local-Table", Key={"pk": {"S": "KEEP#1"}, "sk": {"S": "item"}}
    )["Item"]
    assert item["n"] == {"N": "42"} and item["b"] == {"B": b"\x00\x01"}
    opened = second.client("kms").decrypt(CiphertextBlob=sealed, EncryptionContext={"record": "t1"})
    assert opened["Plaintext"] == b"provider token"
    assert (
        second.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
        == secret
    )
    parameter = second.client("ssm").get_parameter(Name="/vmkit-local/apps-domain")["Parameter"]
    assert parameter["Value"] == "changed"
    assert second.github_webhook_secret == first.github_webhook_secret

    assert_stopped_cleanly(second, second.stop(signal.SIGINT))


def test_services_and_hooks_given_by_import_string_run_with_the_stack(tmp_path):
    marker = tmp_path / "service.txt"
    stack = stack_process(
        tmp_path, services="fixture_hooks:services", on_ready="fixture_hooks:on_ready"
    )
    stack.environment["FIXTURE_SERVICE_MARKER"] = str(marker)
    stack.start()

    assert stack.state["apps_url"] == "http://apps.localhost:9"
    assert stack.state["api_key"] == "vmk_fixture_bootstrap"
    assert marker.read_text().splitlines() == ["started with 9 functions"]
    assert_stopped_cleanly(stack, stack.stop())
    assert marker.read_text().splitlines()[-1] == "stopped"


def test_second_stack_on_the_same_state_file_is_refused(tmp_path):
    first = stack_process(tmp_path).start()

    second = subprocess.run(
        [sys.executable, "-m", "vmkit_local", "--template", str(FIXTURES / "template.yaml"),
         "--no-data-dir", "--state-file", str(first.state_file)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert second.returncode == 1, second.stderr
    assert f"pid {first.pid}" in second.stderr, second.stderr
    assert json.loads(first.state_file.read_text()) == first.state
    assert_stopped_cleanly(first, first.stop())


def test_template_the_stack_cannot_build_fails_with_a_clear_message_and_leaves_nothing(tmp_path):
    template = tmp_path / "template.yaml"
    original = (FIXTURES / "template.yaml").read_text()
    template.write_text(original.replace("Runtime: python3.11", "Runtime: nodejs20.x"))
    state_file = tmp_path / "local.json"

    result = subprocess.run(
        [sys.executable, "-m", "vmkit_local", "--template", str(template), "--no-data-dir",
         "--state-file", str(state_file)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert result.returncode == 1
    assert "Runtime 'nodejs20.x' cannot run in-process" in result.stderr
    assert not state_file.exists()


def test_in_process_stack_sets_and_restores_the_environment_and_is_alone(tmp_path):
    result = subprocess.run(
        [sys.executable, str(FIXTURES / "inprocess_lifecycle.py"), str(FIXTURES / "template.yaml"),
         str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])

    assert report["during"] == {
        "AWS_ENDPOINT_URL": report["aws_url"],
        "TABLE_NAME": "vmkit-local-Table",
        "MOTO_PORT": report["aws_url"].rsplit(":", 1)[1],
    }
    assert report["after"] == {
        "AWS_ENDPOINT_URL": None,
        "TABLE_NAME": "outer-value",
        "MOTO_PORT": None,
    }
    assert "already running in this process" in report["second"]
    assert report["leftover_threads"] == []
    assert not (tmp_path / "local.json").exists()


def test_in_process_fixture_gives_a_test_session_a_running_stack(tmp_path):
    (tmp_path / "conftest.py").write_text(
        "from pathlib import Path\n"
        "from vmkit_local.testing import stack_fixture\n"
        f"local_stack = stack_fixture(template=Path({str(FIXTURES / 'template.yaml')!r}))\n"
    )
    (tmp_path / "test_uses_stack.py").write_text(
        "import json\n\n"
        "def test_invoke(local_stack):\n"
        "    lambda_client = local_stack.client('lambda')\n"
        "    response = lambda_client.invoke(FunctionName='vmkit-local-EchoFunction')\n"
        "    assert json.loads(response['Payload'].read())['event'] == {}\n"
        "    assert json.loads(local_stack.config.state_file.read_text())['pid'] > 0\n"
    )

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
         str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_a_restarted_stack_listens_where_it_did(tmp_path):
    first = stack_process(tmp_path).start()
    before = urls(first)
    first.stop(signal.SIGKILL)  # a crash: the next start must still find the same ports

    second = stack_process(tmp_path).start()
    assert urls(second) == before
    assert_everything_answers(second)
    assert_stopped_cleanly(second, second.stop())


# tgkill(2): a signal to one thread of another process (the kernel's choice, made here).
_TGKILL = {"x86_64": 234, "aarch64": 131}


def signal_a_thread_other_than_main(pid: int, signum: int) -> None:
    threads = sorted(int(tid) for tid in os.listdir(f"/proc/{pid}/task") if int(tid) != pid)
    assert threads, "the stack runs threads besides its main one"
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(_TGKILL[os.uname().machine], pid, threads[0], signum) != 0:
        raise OSError(ctypes.get_errno(), "tgkill failed")


def test_sigterm_taken_by_another_thread_still_stops_the_stack(tmp_path):
    """The kernel may hand a process's SIGTERM to any thread; the stack still stops."""
    stack = stack_process(tmp_path).start()
    signal_a_thread_other_than_main(stack.pid, signal.SIGTERM)
    try:
        exit_code = stack.process.wait(timeout=30)
    finally:
        stack.stop(signal.SIGKILL)  # only if it is still there
    assert "received SIGTERM, stopping" in stack.log()
    assert_stopped_cleanly(stack, exit_code)


def test_a_taken_port_is_named_with_who_holds_it_and_how_to_free_it(tmp_path):
    first = stack_process(tmp_path).start()
    ws_port = int(first.ws_url.split(":")[2].split("/")[0])
    assert_stopped_cleanly(first, first.stop())
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("127.0.0.1", ws_port))
    squatter.listen()
    try:
        refused = subprocess.run(
            [*stack_process(tmp_path).command], capture_output=True, text=True, timeout=120,
            env=stack_process(tmp_path).environment,
        )  # fmt: skip
    finally:
        squatter.close()

    assert refused.returncode == 1
    message = refused.stderr.strip().splitlines()[-1]
    assert (
        f"port {ws_port} for websocket gateway on 127.0.0.1 is taken by pid {os.getpid()}"
        in message
    )
    assert f"kill {os.getpid()}" in message and "ports.json" in message
    assert "Traceback" not in refused.stderr
    assert not (tmp_path / "local.json").exists()


def spawned_processes(tmp_path: Path, pids_file: Path) -> tuple[StackProcess, list[int]]:
    stack = stack_process(tmp_path, services="fixture_hooks:spawning_services")
    stack.environment["FIXTURE_SPAWNED_PIDS"] = str(pids_file)
    stack.start()
    pids = [int(pid) for pid in pids_file.read_text().split()]
    assert len(pids) == 3 and all(alive(pid) for pid in pids)
    return stack, pids


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for its parent."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_nothing_the_stack_started_outlives_kill_9(tmp_path):
    stack, pids = spawned_processes(tmp_path, tmp_path / "pids")

    stack.stop(signal.SIGKILL)

    wait_for(lambda: not any(alive(pid) for pid in pids), timeout=30, what="the stack's processes")


def test_a_clean_stop_ends_what_a_service_forgot_to_stop(tmp_path):
    stack, pids = spawned_processes(tmp_path, tmp_path / "pids")

    assert_stopped_cleanly(stack, stack.stop())

    assert [pid for pid in pids if alive(pid)] == []  # ended before the stack exited


def test_a_restart_ends_what_a_crashed_run_left_when_its_reaper_died_too(tmp_path):
    stack, pids = spawned_processes(tmp_path, tmp_path / "pids")
    reaper = next(
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and b"vmkit_local.lifetime" in _cmdline(entry)
        and _parent(entry) == stack.pid
    )  # fmt: skip
    os.kill(reaper, signal.SIGKILL)  # the watcher goes first: nobody ends the run now
    stack.stop(signal.SIGKILL)
    assert all(alive(pid) for pid in pids)

    second = stack_process(tmp_path).start()

    assert [pid for pid in pids if alive(pid)] == []
    assert "processes a crashed run of the stack left" in second.log()
    assert_stopped_cleanly(second, second.stop())


def _cmdline(entry: Path) -> bytes:
    try:
        return (entry / "cmdline").read_bytes()
    except OSError:
        return b""


def _parent(entry: Path) -> int:
    try:
        return int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return 0
