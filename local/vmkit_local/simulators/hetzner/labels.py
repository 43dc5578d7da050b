"""Hetzner labels and label selectors (docs.hetzner.cloud, "Labels").

Keys: an optional DNS-subdomain prefix and `/`, then a name of at most 63 characters
starting and ending alphanumerically with `-_.` inside; values: empty or the same
shape as a name. Selectors are comma-separated expressions: `k`, `!k`, `k=v`, `k==v`,
`k!=v`, `k in (a,b)`, `k notin (a,b)`; all must match.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .errors import invalid_input

_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?"
_KEY_RE = re.compile(rf"^(?:[a-z0-9](?:[a-z0-9.-]{{0,251}}[a-z0-9])?/)?{_NAME}$")
_VALUE_RE = re.compile(rf"^(?:{_NAME})?$")
_SET_RE = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_CMP_RE = re.compile(r"^\s*([^\s!=]+)\s*(==|!=|=)\s*(\S*)\s*$")
_EXISTS_RE = re.compile(r"^\s*(!?)\s*([^\s!=(),]+)\s*$")

Labels = dict[str, str]
Predicate = Callable[[Labels], bool]


def validate_labels(labels: Any, field: str = "labels") -> Labels:
    if not isinstance(labels, dict):
        raise invalid_input(field, "labels must be an object of string keys and values")
    for key, value in labels.items():
        if not isinstance(value, str) or not _KEY_RE.match(key) or not _VALUE_RE.match(value):
            raise invalid_input(field, f"label {key!r} has an invalid key or value")
    return dict(labels)


def parse_selector(selector: str) -> Predicate:
    """A predicate over a resource's labels, or `invalid_input` for a bad selector."""
    predicates = [_parse_expression(part) for part in _split_expressions(selector)]
    return lambda labels: all(predicate(labels) for predicate in predicates)


def _split_expressions(selector: str) -> list[str]:
    parts, depth, current = [], 0, []
    for char in selector:
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        current.append(char)
    parts.append("".join(current))
    if depth != 0 or any(not part.strip() for part in parts):
        raise _bad_selector(selector)
    return parts


def _parse_expression(expression: str) -> Predicate:
    if match := _SET_RE.match(expression):
        key, operator, values = match.groups()
        allowed = {value.strip() for value in values.split(",")}
        if operator == "in":
            return lambda labels: labels.get(key) in allowed
        return lambda labels: key not in labels or labels[key] not in allowed
    if match := _CMP_RE.match(expression):
        key, operator, value = match.groups()
        if operator == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: key in labels and labels[key] == value
    if match := _EXISTS_RE.match(expression):
        negated, key = match.groups()
        if negated:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    raise _bad_selector(expression)


def _bad_selector(selector: str):
    return invalid_input("label_selector", f"invalid label selector: {selector!r}")
