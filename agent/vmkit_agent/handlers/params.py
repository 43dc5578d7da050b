"""Checks on call parameters, with errors that name the parameter and what was wrong."""

from __future__ import annotations

from typing import Any

from vmkit_agent.errors import InvalidParams


def required_str(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidParams(f"{name} is required and must be a non-empty string")
    return value.strip()


def bounded_int(params: dict[str, Any], name: str, *, default: int, low: int, high: int) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParams(f"{name} must be an integer from {low} to {high}, got {value!r}")
    if not low <= value <= high:
        raise InvalidParams(f"{name} must be from {low} to {high}, got {value}")
    return value
