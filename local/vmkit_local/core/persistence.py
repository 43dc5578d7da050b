"""The data directory: what a restarted stack finds again.

Kept: DynamoDB items of the template's tables, the KMS key material (so stored
ciphertexts still decrypt), Secrets Manager secret values, SSM parameter values, and
the stack's own generated values (such as the GitHub webhook secret). Not kept:
Step Functions executions (an execution running at stop is gone; a deploy waiting on
a task token must be recovered by the control plane's sweepers, as after any loss of
an execution) and WebSocket connections (clients reconnect).

Items are dumped through the public APIs (Scan, BatchWriteItem) in DynamoDB's JSON
wire format, one item per line, so the files are readable and diffable.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from vmkit_local.core.errors import LocalStackError
from vmkit_local.files import write_atomically


def _to_wire(value: Any) -> Any:
    """botocore's parsed item (bytes for B/BS) → DynamoDB JSON (base64 text)."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {key: _to_wire(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_to_wire(item) for item in value]
    return value


def _from_wire(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"B"}:
            return {"B": base64.b64decode(value["B"])}
        if set(value) == {"BS"}:
            return {"BS": [base64.b64decode(item) for item in value["BS"]]}
        return {key: _from_wire(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_from_wire(item) for item in value]
    return value


class DataDir:
    """One directory holding the stack's state between runs."""

    def __init__(self, root: Path):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    # ----- small JSON documents

    def read_json(self, name: str) -> dict[str, Any]:
        path = self.root / name
        if not path.exists():
            return {}
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise LocalStackError(f"{path} is corrupt ({exc}); fix or delete it") from exc

    def write_json(self, name: str, document: Mapping[str, Any]) -> None:
        write_atomically(self.root / name, json.dumps(document, indent=2, sort_keys=True) + "\n")

    # ----- KMS key material

    def kms_material(self) -> dict[str, bytes]:
        return {
            key_id: base64.b64decode(value) for key_id, value in self.read_json("kms.json").items()
        }

    def save_kms_material(self, material: Mapping[str, bytes]) -> None:
        self.write_json(
            "kms.json",
            {key_id: base64.b64encode(value).decode() for key_id, value in material.items()},
        )

    # ----- DynamoDB items

    def _table_file(self, table_name: str) -> Path:
        return self.root / "dynamodb" / f"{table_name}.jsonl"

    def dump_tables(self, dynamodb: Any, table_names: Iterable[str]) -> None:
        for table_name in table_names:
            lines = []
            for page in dynamodb.get_paginator("scan").paginate(TableName=table_name):
                lines += [json.dumps(_to_wire(item), sort_keys=True) for item in page["Items"]]
            write_atomically(self._table_file(table_name), "".join(line + "\n" for line in lines))

    def load_tables(self, dynamodb: Any, table_names: Iterable[str]) -> int:
        """Put saved items back; returns how many."""
        count = 0
        for table_name in table_names:
            path = self._table_file(table_name)
            if not path.exists():
                continue
            items = [_from_wire(json.loads(line)) for line in path.read_text().splitlines() if line]
            for start in range(0, len(items), 25):
                batch = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
                try:
                    self._write_batch(dynamodb, table_name, batch)
                except ClientError as exc:
                    raise LocalStackError(
                        f"saved items of table {table_name} no longer fit it ({exc}); "
                        f"migrate or delete {path}"
                    ) from exc
            count += len(items)
        return count

    @staticmethod
    def _write_batch(dynamodb: Any, table_name: str, batch: list[dict[str, Any]]) -> None:
        pending: dict[str, list[dict[str, Any]]] = {table_name: batch}
        while pending:
            pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    # ----- Secrets Manager and SSM values

    def dump_secrets(self, secretsmanager: Any) -> None:
        values = {}
        for page in secretsmanager.get_paginator("list_secrets").paginate():
            for secret in page["SecretList"]:
                try:
                    value = secretsmanager.get_secret_value(SecretId=secret["ARN"])
                except ClientError:
                    continue  # a secret without a value yet
                if "SecretString" in value:
                    values[secret["Name"]] = {"SecretString": value["SecretString"]}
                else:
                    values[secret["Name"]] = {
                        "SecretBinary": base64.b64encode(value["SecretBinary"]).decode()
                    }
        self.write_json("secrets.json", values)

    def load_secrets(self, secretsmanager: Any) -> None:
        for name, value in self.read_json("secrets.json").items():
            kwargs = (
                {"SecretString": value["SecretString"]}
                if "SecretString" in value
                else {"SecretBinary": base64.b64decode(value["SecretBinary"])}
            )
            try:
                secretsmanager.put_secret_value(SecretId=name, **kwargs)
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                    raise
                secretsmanager.create_secret(Name=name, **kwargs)

    def dump_parameters(self, ssm: Any) -> None:
        values = {}
        for page in ssm.get_paginator("describe_parameters").paginate():
            names = [parameter["Name"] for parameter in page["Parameters"]]
            for start in range(0, len(names), 10):
                found = ssm.get_parameters(Names=names[start : start + 10], WithDecryption=True)
                for parameter in found["Parameters"]:
                    values[parameter["Name"]] = {
                        "Value": parameter["Value"],
                        "Type": parameter["Type"],
                    }
        self.write_json("ssm.json", values)

    def load_parameters(self, ssm: Any) -> None:
        for name, value in self.read_json("ssm.json").items():
            ssm.put_parameter(Name=name, Value=value["Value"], Type=value["Type"], Overwrite=True)
