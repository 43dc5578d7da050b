"""The data directory: what a restarted stack finds again, even after `kill -9`.

Kept: DynamoDB items of the template's tables, S3 objects of its buckets, Secrets
Manager secret values, SSM parameter values, the KMS key material (so stored
ciphertexts still decrypt), the stack's own generated values (such as the GitHub
webhook secret) and its ports (`ports.py`). Not kept: Step Functions executions (an
execution running at a stop or a crash is gone; the control plane's reconciliation
fails the deploys that were waiting on one) and WebSocket connections (agents
reconnect, to the same port).

Layout, under the data directory:
- `current.json`: `{"generation": N}`, replaced atomically; it names the state;
- `snapshots/N/`: the state at the start of generation N: `dynamodb/<table>.jsonl`
  (one item per line in DynamoDB's JSON wire format, readable and diffable),
  `s3/<bucket>.jsonl`, `secrets.json`, `ssm.json`;
- `journal-N.jsonl`: every change acknowledged since (`journal.py`);
- `kms.json`, `stack.json`: written once when they change.

Start-up loads snapshot N, replays journal N, then folds both into generation N+1 (a
new snapshot, an empty journal) before anything else may write; a clean stop folds
again. Anything a crash can leave half-done is harmless: a snapshot being written is
not named by `current.json` yet, and is deleted at the next start with every other
generation's files. Data directories from before generations (the same files at the
top level) are read as generation 0.
"""

from __future__ import annotations

import base64
import fcntl
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from vmkit_local.core.errors import LocalStackError
from vmkit_local.core.journal import Journal, JournalingApp, read_journal
from vmkit_local.files import write_atomically

log = logging.getLogger(__name__)

ClientFactory = Callable[[str], Any]


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


def read_json_file(path: Path) -> dict[str, Any]:
    """A small JSON document, {} when absent; a corrupt one is a one-line error."""
    if not path.exists():
        return {}
    try:
        document = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LocalStackError(f"{path} is corrupt ({exc}); fix or delete it") from exc
    if not isinstance(document, dict):
        raise LocalStackError(f"{path} is corrupt (not a JSON object); fix or delete it")
    return document


def _jsonl(path: Path) -> list[Any]:
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line]
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LocalStackError(f"{path} is corrupt ({exc}); fix or delete it") from exc


@dataclass
class Restored:
    items: int = 0
    objects: int = 0
    secrets: int = 0
    parameters: int = 0

    def __str__(self) -> str:
        return (
            f"{self.items} items, {self.objects} objects, {self.secrets} secrets, "
            f"{self.parameters} parameters"
        )


class KeptState:
    """The parts of moto's state a snapshot holds, read and written through boto3."""

    def __init__(self, client: ClientFactory, tables: Iterable[str], buckets: Iterable[str]):
        self.client = client
        self.tables = list(tables)
        self.buckets = list(buckets)

    # ----- writing a snapshot

    def dump(self, directory: Path) -> None:
        dynamodb = self.client("dynamodb")
        for table in self.tables:
            lines = [
                json.dumps(_to_wire(item), sort_keys=True)
                for page in dynamodb.get_paginator("scan").paginate(TableName=table)
                for item in page["Items"]
            ]
            write_atomically(directory / "dynamodb" / f"{table}.jsonl", _lines(lines))
        s3 = self.client("s3")
        for bucket in self.buckets:
            lines = []
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for listed in page.get("Contents", []):
                    found = s3.get_object(Bucket=bucket, Key=listed["Key"])
                    lines.append(
                        json.dumps(
                            {
                                "Key": listed["Key"],
                                "Body": base64.b64encode(found["Body"].read()).decode(),
                                "ContentType": found.get("ContentType", ""),
                                "Metadata": found.get("Metadata", {}),
                            },
                            sort_keys=True,
                        )
                    )
            write_atomically(directory / "s3" / f"{bucket}.jsonl", _lines(lines))
        _write_json(directory / "secrets.json", self._secret_values())
        _write_json(directory / "ssm.json", self._parameter_values())

    def _secret_values(self) -> dict[str, Any]:
        secretsmanager = self.client("secretsmanager")
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
        return values

    def _parameter_values(self) -> dict[str, Any]:
        ssm = self.client("ssm")
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
        return values

    # ----- reading one back

    def load(self, directory: Path) -> Restored:
        restored = Restored()
        dynamodb = self.client("dynamodb")
        for table in self.tables:
            path = directory / "dynamodb" / f"{table}.jsonl"
            if path.exists():
                restored.items += self._load_items(dynamodb, table, path)
        s3 = self.client("s3")
        for bucket in self.buckets:
            path = directory / "s3" / f"{bucket}.jsonl"
            for saved in _jsonl(path) if path.exists() else []:
                s3.put_object(
                    Bucket=bucket,
                    Key=saved["Key"],
                    Body=base64.b64decode(saved["Body"]),
                    ContentType=saved.get("ContentType") or "binary/octet-stream",
                    Metadata=saved.get("Metadata") or {},
                )
                restored.objects += 1
        restored.secrets = self._load_secrets(read_json_file(directory / "secrets.json"))
        ssm = self.client("ssm")
        parameters = read_json_file(directory / "ssm.json")
        for name, value in parameters.items():
            ssm.put_parameter(Name=name, Value=value["Value"], Type=value["Type"], Overwrite=True)
        restored.parameters = len(parameters)
        return restored

    @staticmethod
    def _load_items(dynamodb: Any, table: str, path: Path) -> int:
        items = [_from_wire(item) for item in _jsonl(path)]
        for start in range(0, len(items), 25):
            pending: dict[str, Any] = {
                table: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
            }
            try:
                while pending:
                    answer = dynamodb.batch_write_item(RequestItems=pending)
                    pending = answer.get("UnprocessedItems") or {}
            except ClientError as exc:
                raise LocalStackError(
                    f"saved items of table {table} no longer fit it ({exc}); "
                    f"migrate or delete {path}"
                ) from exc
        return len(items)

    def _load_secrets(self, values: Mapping[str, Any]) -> int:
        secretsmanager = self.client("secretsmanager")
        for name, value in values.items():
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
        return len(values)


def _lines(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


def _write_json(path: Path, document: Mapping[str, Any]) -> None:
    write_atomically(path, json.dumps(document, indent=2, sort_keys=True) + "\n")


# What generation 0 (a data directory from before generations) kept at the top level.
_LEGACY_SNAPSHOT = ("dynamodb", "secrets.json", "ssm.json")


class DataDir:
    """One directory holding the stack's state between runs."""

    def __init__(self, root: Path):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.generation = 0
        self._lock_file: Any = None

    # ----- one stack at a time

    def lock(self) -> None:
        """Hold the data dir for this process's lifetime (the kernel drops it at death)."""
        path = self.root / "lock"
        self._lock_file = path.open("a+")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.seek(0)
            holder = self._lock_file.read().strip() or "another process"
            self._lock_file.close()
            self._lock_file = None
            raise LocalStackError(
                f"{self.root} is in use by another local stack ({holder}); stop it first"
            ) from None
        self._lock_file.truncate(0)
        self._lock_file.write(f"pid {os.getpid()}\n")
        self._lock_file.flush()

    def unlock(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()  # closing the descriptor releases the lock
            self._lock_file = None

    # ----- small JSON documents

    def read_json(self, name: str) -> dict[str, Any]:
        return read_json_file(self.root / name)

    def write_json(self, name: str, document: Mapping[str, Any]) -> None:
        _write_json(self.root / name, document)

    # ----- KMS key material

    def kms_material(self) -> dict[str, bytes]:
        if not (self.root / "kms.json").exists() and (self.root / "current.json").exists():
            log.warning(
                "data dir: %s is missing, so the KMS keys get new material and what was "
                "encrypted before (stored credentials) cannot be decrypted; restore it if "
                "you have a copy",
                self.root / "kms.json",
            )
        saved = self.read_json("kms.json")
        try:
            return {key_id: base64.b64decode(value) for key_id, value in saved.items()}
        except (TypeError, ValueError) as exc:
            raise LocalStackError(
                f"{self.root / 'kms.json'} is corrupt ({exc}); restore it: without it no "
                "stored ciphertext can be decrypted again"
            ) from exc

    def save_kms_material(self, material: Mapping[str, bytes]) -> None:
        self.write_json(
            "kms.json",
            {key_id: base64.b64encode(value).decode() for key_id, value in material.items()},
        )

    # ----- snapshots and the journal

    def snapshot_dir(self, generation: int) -> Path:
        return self.root if generation == 0 else self.root / "snapshots" / str(generation)

    def journal_path(self, generation: int) -> Path:
        return self.root / f"journal-{generation}.jsonl"

    def recover(self, kept: KeptState, journaling: JournalingApp) -> None:
        """Bring back the state of the last run, then start journaling a new generation."""
        current = self.read_json("current.json").get("generation", 0)
        if not isinstance(current, int) or current < 0:
            raise LocalStackError(
                f"{self.root / 'current.json'} is corrupt (generation {current!r}); fix or delete it"
            )
        self.generation = current
        self._remove_other_generations(keep=current)
        snapshot = self.snapshot_dir(current)
        if current and not snapshot.is_dir():
            log.warning(
                "data dir: snapshot %s named by current.json is missing; starting from its "
                "journal alone",
                snapshot,
            )
        restored = kept.load(snapshot)
        journal = read_journal(self.journal_path(current))
        if journal.torn_tail:
            log.warning(
                "data dir: the last journal entry was cut short by a crash before it was "
                "acknowledged; it is dropped"
            )
        for refusal in journaling.replay(journal.entries):
            log.warning("data dir: a journaled change was refused on replay: %s", refusal)
        log.info(
            "data dir: restored %s from generation %s and replayed %s journaled changes",
            restored,
            current,
            len(journal.entries),
        )
        self.compact(kept, journaling)

    def compact(self, kept: KeptState, journaling: JournalingApp) -> None:
        """Fold the journal into a new snapshot; writes wait meanwhile, then journal anew."""
        with journaling.lock:
            previous, new = self.generation, self.generation + 1
            snapshot = self.snapshot_dir(new)
            shutil.rmtree(snapshot, ignore_errors=True)
            kept.dump(snapshot)
            self.write_json("current.json", {"generation": new})  # the switch
            self.generation = new
            if journaling.journal is not None:
                journaling.journal.close()
            journaling.journal = Journal(self.journal_path(new))
            self._remove_generation(previous)

    def close_journal(self, journaling: JournalingApp) -> None:
        with journaling.lock:
            if journaling.journal is not None:
                journaling.journal.close()
                journaling.journal = None

    def _remove_generation(self, generation: int) -> None:
        self.journal_path(generation).unlink(missing_ok=True)
        if generation == 0:
            for name in _LEGACY_SNAPSHOT:
                path = self.root / name
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)
        else:
            shutil.rmtree(self.snapshot_dir(generation), ignore_errors=True)

    def _remove_other_generations(self, keep: int) -> None:
        """What a crash mid-compaction left: a half-written snapshot, a folded journal."""
        if keep:
            self._remove_generation(0)
        for journal in self.root.glob("journal-*.jsonl"):
            if journal != self.journal_path(keep):
                journal.unlink()
        for snapshot in (self.root / "snapshots").glob("*"):
            if snapshot != self.snapshot_dir(keep):
                shutil.rmtree(snapshot, ignore_errors=True)
