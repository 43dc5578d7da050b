"""Every write the stack acknowledged survives `kill -9`, and start-up survives what a
crash (or a person) left in the data directory, with one clear line and no traceback."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.integration.localcore.test_localcore_process import FIXTURES, stack_process

TABLE = "vmkit-local-Table"


def bucket(stack) -> str:
    names = [b["Name"] for b in stack.client("s3").list_buckets()["Buckets"]]
    assert len(names) == 1, names
    return names[0]


def key(pk: str) -> dict:
    return {"pk": {"S": pk}, "sk": {"S": "item"}}


def generation(data: Path) -> int:
    return json.loads((data / "current.json").read_text())["generation"]


def write_everything(stack) -> dict:
    """One of each kind of change the stack keeps, some of them racing."""
    dynamodb = stack.client("dynamodb")
    for n in range(30):
        dynamodb.put_item(TableName=TABLE, Item={**key(f"ITEM#{n}"), "n": {"N": str(n)}})
    dynamodb.delete_item(TableName=TABLE, Key=key("ITEM#0"))
    dynamodb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": {**key("TX#a"), "v": {"S": "a"}}}},
            {"Update": {"TableName": TABLE, "Key": key("ITEM#1"),
                        "UpdateExpression": "SET v = :v",
                        "ExpressionAttributeValues": {":v": {"S": "tx"}}}},
        ]
    )  # fmt: skip

    def bump(_: int) -> None:  # racing read-modify-writes: their order matters on replay
        stack.client("dynamodb").update_item(
            TableName=TABLE,
            Key=key("COUNTER"),
            UpdateExpression="ADD hits :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(bump, range(40)))
    secrets = stack.client("secretsmanager")
    secrets.create_secret(Name="made/at-runtime", SecretString="first")
    secrets.put_secret_value(SecretId="made/at-runtime", SecretString="second")
    stack.client("ssm").put_parameter(Name="/made/at-runtime", Value="p", Type="String")
    s3 = stack.client("s3")
    s3.put_object(
        Bucket=bucket(stack), Key="logs/a.txt", Body=b"\x00binary\xff", Metadata={"m": "1"}
    )
    s3.put_object(Bucket=bucket(stack), Key="logs/gone.txt", Body=b"x")
    s3.delete_object(Bucket=bucket(stack), Key="logs/gone.txt")
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket(stack), "Key": "logs/presigned.txt"}
    )
    assert httpx.put(url, content=b"uploaded by an agent").status_code == 200
    return {"bucket": bucket(stack)}


def assert_everything_kept(stack, facts: dict) -> None:
    dynamodb = stack.client("dynamodb")
    items = {
        item["pk"]["S"]: item
        for page in dynamodb.get_paginator("scan").paginate(TableName=TABLE)
        for item in page["Items"]
    }
    assert {f"ITEM#{n}" for n in range(1, 30)} <= set(items) and "ITEM#0" not in items
    assert items["ITEM#1"]["v"] == {"S": "tx"} and items["TX#a"]["v"] == {"S": "a"}
    assert items["COUNTER"]["hits"] == {"N": "40"}
    secret = stack.client("secretsmanager").get_secret_value(SecretId="made/at-runtime")
    assert secret["SecretString"] == "second"
    assert stack.client("ssm").get_parameter(Name="/made/at-runtime")["Parameter"]["Value"] == "p"
    s3 = stack.client("s3")
    kept = s3.get_object(Bucket=facts["bucket"], Key="logs/a.txt")
    assert kept["Body"].read() == b"\x00binary\xff" and kept["Metadata"] == {"m": "1"}
    presigned = s3.get_object(Bucket=facts["bucket"], Key="logs/presigned.txt")["Body"].read()
    assert presigned == b"uploaded by an agent"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=facts["bucket"], Key="logs/gone.txt")


def test_every_acknowledged_write_survives_kill_9(tmp_path):
    first = stack_process(tmp_path).start()
    facts = write_everything(first)
    first.stop(signal.SIGKILL)

    second = stack_process(tmp_path).start()
    assert_everything_kept(second, facts)
    second.client("dynamodb").put_item(TableName=TABLE, Item=key("AFTER#restart"))
    second.stop(signal.SIGKILL)  # a second crash, on the generation the first restart made

    third = stack_process(tmp_path).start()
    assert_everything_kept(third, facts)
    assert "Item" in third.client("dynamodb").get_item(TableName=TABLE, Key=key("AFTER#restart"))
    assert third.stop() == 0


def test_a_torn_last_journal_line_is_dropped_with_one_line_and_the_rest_replayed(tmp_path):
    first = stack_process(tmp_path).start()
    first.client("dynamodb").put_item(TableName=TABLE, Item=key("KEPT"))
    first.stop(signal.SIGKILL)
    data = tmp_path / "data"
    with (data / f"journal-{generation(data)}.jsonl").open("ab") as journal:
        journal.write(b'{"op":"dynamodb PutItem","environ":{"REQUEST_ME')  # the crash mid-write

    second = stack_process(tmp_path).start()
    assert "Item" in second.client("dynamodb").get_item(TableName=TABLE, Key=key("KEPT"))
    assert "the last journal entry was cut short by a crash" in second.log()
    assert second.stop() == 0


def start_refused(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vmkit_local", "--template", str(FIXTURES / "template.yaml"),
         "--data-dir", str(tmp_path / "data"), "--state-file", str(tmp_path / "refused.json")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_a_journal_changed_in_the_middle_refuses_to_start_naming_the_line(tmp_path):
    first = stack_process(tmp_path).start()
    first.client("dynamodb").put_item(TableName=TABLE, Item=key("A"))
    first.client("dynamodb").put_item(TableName=TABLE, Item=key("B"))
    first.stop(signal.SIGKILL)
    data = tmp_path / "data"
    journal = data / f"journal-{generation(data)}.jsonl"
    lines = journal.read_bytes().splitlines()
    journal.write_bytes(b"\n".join([lines[0], b"garbage", *lines[1:]]) + b"\n")

    refused = start_refused(tmp_path)

    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1].startswith("vmkit_local: ")
    assert f"{journal} line 2 is corrupt" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert journal.read_bytes().count(b"\n") == len(lines) + 1  # nothing was thrown away


def test_a_missing_snapshot_starts_from_the_journal_alone_and_says_so(tmp_path):
    first = stack_process(tmp_path).start()
    first.client("dynamodb").put_item(TableName=TABLE, Item=key("SINCE#snapshot"))
    first.stop(signal.SIGKILL)
    data = tmp_path / "data"
    shutil.rmtree(data / "snapshots" / str(generation(data)))

    second = stack_process(tmp_path).start()
    assert "Item" in second.client("dynamodb").get_item(TableName=TABLE, Key=key("SINCE#snapshot"))
    assert "is missing; starting from its journal alone" in second.log()
    assert second.stop() == 0


def test_what_a_crash_mid_compaction_leaves_is_ignored(tmp_path):
    first = stack_process(tmp_path).start()
    first.client("dynamodb").put_item(TableName=TABLE, Item=key("KEPT"))
    first.stop(signal.SIGKILL)
    data = tmp_path / "data"
    half_written = data / "snapshots" / str(generation(data) + 1) / "dynamodb"
    half_written.mkdir(parents=True)
    (half_written / f"{TABLE}.jsonl").write_text('{"pk": {"S": "HALF"}')

    second = stack_process(tmp_path).start()
    assert "Item" in second.client("dynamodb").get_item(TableName=TABLE, Key=key("KEPT"))
    assert not (data / "snapshots" / str(generation(data) - 1)).exists()
    assert second.stop() == 0


def test_a_data_dir_from_before_generations_is_read_and_moved_on(tmp_path):
    data = tmp_path / "data"
    (data / "dynamodb").mkdir(parents=True)
    (data / "dynamodb" / f"{TABLE}.jsonl").write_text(
        json.dumps({"pk": {"S": "OLD"}, "sk": {"S": "item"}, "b": {"B": "AAE="}}) + "\n"
    )
    (data / "ssm.json").write_text(
        json.dumps({"/vmkit-local/apps-domain": {"Value": "old", "Type": "String"}})
    )

    stack = stack_process(tmp_path).start()
    item = stack.client("dynamodb").get_item(TableName=TABLE, Key=key("OLD"))["Item"]
    assert item["b"] == {"B": b"\x00\x01"}
    assert (
        stack.client("ssm").get_parameter(Name="/vmkit-local/apps-domain")["Parameter"]["Value"]
        == "old"
    )
    assert not (data / "dynamodb").exists() and not (data / "ssm.json").exists()
    assert stack.stop() == 0


def test_a_missing_kms_file_is_said_in_one_line_and_the_rest_is_kept(tmp_path):
    first = stack_process(tmp_path).start()
    first.client("dynamodb").put_item(TableName=TABLE, Item=key("KEPT"))
    assert first.stop() == 0
    (tmp_path / "data" / "kms.json").unlink()

    second = stack_process(tmp_path).start()
    assert "kms.json is missing, so the KMS keys get new material" in second.log()
    assert "Item" in second.client("dynamodb").get_item(TableName=TABLE, Key=key("KEPT"))
    assert second.stop() == 0
