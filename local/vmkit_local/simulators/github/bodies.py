"""Checks of request bodies that answer as GitHub's schema validation does."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from ..clock import utc_now
from ..endpoint import Call
from .errors import invalid_request, missing_field
from .gitstore import Signature


def object_body(call: Call) -> dict[str, Any]:
    if call.body is None:
        return {}
    if not isinstance(call.body, dict):
        raise invalid_request(f"{json.dumps(call.body)} is not an object.")
    return call.body


def required_str(body: dict[str, Any], field: str) -> str:
    if body.get(field) is None:
        raise missing_field(field)
    return optional_str(body, field) or ""


def optional_str(body: dict[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is not None and not isinstance(value, str):
        raise invalid_request(f"For 'properties/{field}', {json.dumps(value)} is not a string.")
    return value


def optional_bool(body: dict[str, Any], field: str, default: bool = False) -> bool:
    value = body.get(field, default)
    if not isinstance(value, bool):
        raise invalid_request(f"For 'properties/{field}', {json.dumps(value)} is not a boolean.")
    return value


def decoded_base64(text: str, field: str = "content") -> bytes:
    try:
        return base64.b64decode(text, validate=False) if text else b""
    except (binascii.Error, ValueError):
        raise invalid_request(f"{field} is not valid Base64") from None


def signature(body: dict[str, Any], field: str, default: Signature) -> Signature:
    """A commit author/committer from `{name, email, date?}`, or `default`."""
    value = body.get(field)
    if value is None:
        return default
    if not isinstance(value, dict) or not all(
        isinstance(value.get(key), str) for key in ("name", "email")
    ):
        raise invalid_request(f'"{field}" must have "name" and "email" strings.')
    when = utc_now()
    if isinstance(value.get("date"), str):
        try:
            when = datetime.fromisoformat(value["date"].replace("Z", "+00:00"))
        except ValueError:
            raise invalid_request(f"For 'properties/{field}/date', not a date.") from None
    return Signature(value["name"], value["email"], when)
