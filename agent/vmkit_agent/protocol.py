"""The wire format shared with the control plane (agent/PROTOCOL.md is the contract).

Every frame is one JSON object `{"id", "type", "method", ...}`. This module only turns
Python values into frames and frames into values; it knows nothing about connections.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any

# API Gateway refuses WebSocket frames over 32 KB. 32 000 bytes stays under the limit
# whether "KB" means 1000 or 1024 bytes.
MAX_MESSAGE_BYTES = 32_000
# Calls from the server are small; refusing big incoming frames bounds the agent's memory.
MAX_INCOMING_BYTES = 128 * 1024
MAX_ID_LENGTH = 128

CALL, RESULT, ERROR, EVENT = "call", "result", "error", "event"
_TYPES = (CALL, RESULT, ERROR, EVENT)
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class MalformedMessage(Exception):
    """A frame that is not a protocol message; answered with an error reply."""

    def __init__(self, reason: str, *, call_id: str | None = None, method: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.call_id = call_id
        self.method = method


class ResultTooLarge(Exception):
    """A result that cannot be split into frames under MAX_MESSAGE_BYTES."""


@dataclass(frozen=True)
class Incoming:
    type: str
    id: str | None
    method: str | None
    params: dict[str, Any]
    body: dict[str, Any]


def new_id() -> str:
    """A ULID (48-bit millisecond time, 80 random bits, Crockford base32), so the
    agent's event ids sort by time like the server's ids do."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def dumps(message: dict[str, Any]) -> str:
    # Raw UTF-8 rather than \u escapes: frames are measured in UTF-8 bytes.
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def frame_size(frame: str) -> int:
    return len(frame.encode("utf-8"))


def event(method: str, params: dict[str, Any]) -> tuple[str, str]:
    """An agent → server event with a fresh id; returns (id, frame)."""
    event_id = new_id()
    return event_id, dumps({"id": event_id, "type": EVENT, "method": method, "params": params})


def error_reply(call_id: str | None, method: str | None, code: str, message: str) -> str:
    return dumps(
        {
            "id": call_id,
            "type": ERROR,
            "method": method,
            "error": {"code": code, "message": message},
        }
    )


def result_replies(
    call_id: str, method: str, result: dict[str, Any], *, split_key: str | None = None
) -> list[str]:
    """The frames carrying `result`: one frame when it fits, else several frames with
    the same id and `chunk: {index, count}`, each holding an in-order slice of the
    list under `split_key` (and the result's other keys, which are small)."""
    whole = dumps({"id": call_id, "type": RESULT, "method": method, "result": result})
    if frame_size(whole) <= MAX_MESSAGE_BYTES:
        return [whole]
    items = result.get(split_key) if split_key else None
    if not isinstance(items, list):
        raise ResultTooLarge(
            f"{method} result is {frame_size(whole)} bytes, "
            f"over the {MAX_MESSAGE_BYTES}-byte frame limit"
        )
    rest = {key: value for key, value in result.items() if key != split_key}

    def envelope(part: list[Any], index: int, count: int) -> str:
        return dumps(
            {
                "id": call_id,
                "type": RESULT,
                "method": method,
                "result": {**rest, split_key: part},
                "chunk": {"index": index, "count": count},
            }
        )

    # No index or count can exceed len(items), so an envelope built with that number
    # in both places is at least as big as any real one.
    budget = MAX_MESSAGE_BYTES - frame_size(envelope([], len(items), len(items)))
    slices: list[list[Any]] = [[]]
    used = 0
    for item in items:
        size = frame_size(dumps(item)) + 1  # the separating comma
        if size > budget:
            raise ResultTooLarge(f"one item of {method}'s {split_key} is {size} bytes on its own")
        if used + size > budget and slices[-1]:
            slices.append([])
            used = 0
        slices[-1].append(item)
        used += size
    return [envelope(part, index, len(slices)) for index, part in enumerate(slices)]


def parse(frame: str | bytes) -> Incoming:
    """Parse one frame from the server, or raise MalformedMessage saying what is wrong."""
    if isinstance(frame, bytes):
        raise MalformedMessage("expected a JSON text frame, got a binary frame")
    try:
        body = json.loads(frame)
    except ValueError as exc:
        raise MalformedMessage(f"frame is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise MalformedMessage(f"expected a JSON object, got {type(body).__name__}")
    raw_id = body.get("id")
    call_id = raw_id if isinstance(raw_id, str) and 0 < len(raw_id) <= MAX_ID_LENGTH else None
    raw_method = body.get("method")
    method = raw_method if isinstance(raw_method, str) and raw_method else None
    kind = body.get("type")
    if kind not in _TYPES:
        raise MalformedMessage(
            f"type must be one of {', '.join(_TYPES)}, got {kind!r}", call_id=call_id, method=method
        )
    if call_id is None:
        raise MalformedMessage(
            f"id must be a non-empty string of at most {MAX_ID_LENGTH} characters", method=method
        )
    params = body.get("params", {})
    if kind == CALL:
        if method is None:
            raise MalformedMessage("a call needs a non-empty string method", call_id=call_id)
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise MalformedMessage("params must be a JSON object", call_id=call_id, method=method)
    return Incoming(
        type=kind,
        id=call_id,
        method=method,
        params=params if isinstance(params, dict) else {},
        body=body,
    )
