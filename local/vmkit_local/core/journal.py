"""The write-ahead journal: every change the AWS endpoint acknowledges is on disk first.

Between two snapshots of the data directory (`persistence.py`), each request that
changes state the stack keeps (DynamoDB items, Secrets Manager secrets, SSM
parameters, S3 objects) is appended to the journal as the request itself, one JSON
line, and flushed to the operating system before its response is sent. A `kill -9`
therefore loses nothing a client was told had happened: at the next start the journal
is replayed in order over the snapshot it belongs to. Flushed, not fsynced: a crash of
the stack loses nothing, a power cut of the host may lose the last writes.

Mutations are serialised: one lock is held across moto applying a request and its
line being written, so the journal's order is the order moto applied them in (two
racing writes to one item replayed the other way round would keep the wrong one).
Only requests moto answered with 2xx are written: a refused conditional write changed
nothing. Reads pass straight through.

Not journaled: Step Functions executions (lost on restart, by design: the control
plane reconciles deploys whose execution is gone), KMS (keys come from the template
and their material is saved once), IAM and Lambda (made from the template each start).
"""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from vmkit_local.core.errors import LocalStackError
from vmkit_local.core.wsgi import WsgiApp, call, environ_for

# X-Amz-Target prefixes of the kept services; their operations are JSON "targets".
_TARGET_SERVICES = {
    "DynamoDB_20120810": "dynamodb",
    "secretsmanager": "secretsmanager",
    "AmazonSSM": "ssm",
}
_READ_OPERATIONS = ("Get", "List", "Describe", "BatchGet", "Query", "Scan", "TransactGet")
# Parts of a WSGI environ that describe the connection, not the request.
_NOT_REQUEST = ("REMOTE_", "SERVER_", "wsgi.", "werkzeug.")
_HOP_BY_HOP = {"HTTP_CONNECTION", "HTTP_KEEP_ALIVE", "HTTP_TRANSFER_ENCODING", "CONTENT_LENGTH"}


def _signing_service(environ: dict[str, Any]) -> str | None:
    """The service a SigV4 request (header or presigned URL) was signed for."""
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    if "Credential=" in authorization:
        scope = authorization.split("Credential=", 1)[1].split(",", 1)[0]
    else:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        if "AWSAccessKeyId" in query:  # a SigV2 presigned URL: only S3 still takes those
            return "s3"
        scope = (query.get("X-Amz-Credential") or [""])[0]
    parts = scope.split("/")
    return parts[3].lower() if len(parts) == 5 else None


def kept_change(environ: dict[str, Any]) -> str | None:
    """'service Operation' if this request may change kept state, else None."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        prefix, _, operation = target.partition(".")
        service = _TARGET_SERVICES.get(prefix)
        if service and operation and not operation.startswith(_READ_OPERATIONS):
            return f"{service} {operation}"
        return None
    method = environ.get("REQUEST_METHOD", "GET")
    if method in ("PUT", "POST", "DELETE") and _signing_service(environ) == "s3":
        return f"s3 {method}"
    return None


def _read_body(environ: dict[str, Any]) -> bytes:
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        return stream.read(int(length))
    return stream.read() if environ.get("wsgi.input_terminated") else b""


def _entry(environ: dict[str, Any], body: bytes, operation: str) -> dict[str, Any]:
    request = {
        key: value
        for key, value in environ.items()
        if isinstance(value, str) and not key.startswith(_NOT_REQUEST) and key not in _HOP_BY_HOP
    }
    entry: dict[str, Any] = {"op": operation, "environ": request}
    try:
        entry["body"] = body.decode()
    except UnicodeDecodeError:
        entry["body64"] = base64.b64encode(body).decode()
    return entry


def _entry_body(entry: dict[str, Any]) -> bytes:
    if "body64" in entry:
        return base64.b64decode(entry["body64"])
    return str(entry.get("body", "")).encode()


class Journal:
    """One journal file, appended to line by line."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("ab")
        path.chmod(0o600)  # request bodies carry secret values

    def append(self, entry: dict[str, Any]) -> None:
        self._file.write(json.dumps(entry, separators=(",", ":")).encode() + b"\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


@dataclass(frozen=True)
class JournalContents:
    entries: list[dict[str, Any]]
    torn_tail: bool  # the last line was cut short (the crash came mid-write)


def read_journal(path: Path) -> JournalContents:
    """The entries of a journal file; a torn last line is reported, not fatal.

    A line that does not parse anywhere but at the end cannot come from a crash (every
    line is written whole before the next begins), so it is refused by line number.
    """
    if not path.exists():
        return JournalContents([], False)
    lines = path.read_bytes().split(b"\n")
    last = len(lines) - 1  # after the final newline: b"" for a file that ends cleanly
    entries = []
    for number, line in enumerate(lines, start=1):
        if not line:
            continue
        try:
            entries.append(json.loads(line))
        except ValueError:
            if number - 1 == last:
                return JournalContents(entries, True)
            raise LocalStackError(
                f"{path} line {number} is corrupt (not a torn last write, so something else "
                f"changed the file); restore it, or move it aside to start from the last "
                f"snapshot without the changes after it"
            ) from None
    return JournalContents(entries, False)


class JournalingApp:
    """WSGI middleware in front of moto: journals each acknowledged change.

    `journal` is None until the stack has recovered its saved state (provisioning and
    replay must not be journaled), and after it stops.
    """

    def __init__(self, app: WsgiApp):
        self.app = app
        self.journal: Journal | None = None
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        operation = kept_change(environ) if self.journal is not None else None
        if operation is None:
            return self.app(environ, start_response)
        body = _read_body(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        with self.lock:
            status, headers, chunks = call(self.app, environ)
            if status.startswith("2") and self.journal is not None:
                self.journal.append(_entry(environ, body, operation))
        start_response(status, headers)
        return chunks

    def replay(self, entries: Iterable[dict[str, Any]]) -> list[str]:
        """Apply journaled requests to moto again, in order; returns the refusals."""
        refused = []
        for number, entry in enumerate(entries, start=1):
            environ = environ_for(entry["environ"], _entry_body(entry))
            status, _, chunks = call(self.app, environ)
            if not status.startswith("2"):
                answer = b"".join(chunks)[:200].decode(errors="replace")
                refused.append(f"entry {number} ({entry.get('op')}) got {status}: {answer}")
        return refused
