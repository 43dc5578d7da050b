"""Identifiers: prefixed, time-ordered ULIDs (`env_01J…`).

The prefix tells a human or an agent what an id points at, and lets every route
reject an id of the wrong kind with a clear message before touching DynamoDB.
"""

from __future__ import annotations

import re

from ulid import ULID

PREFIXES = {
    "workspace": "ws",
    "user": "usr",
    "compute_target": "tgt",
    "repo": "repo",
    "environment": "env",
    "instance": "ins",
    "deploy": "dep",
    "audit": "evt",
    "call": "call",
    "deploy_key": "dkey",
}

_ULID = r"[0-9A-HJKMNP-TV-Z]{26}"
_PATTERNS = {kind: re.compile(rf"^{prefix}_{_ULID}$") for kind, prefix in PREFIXES.items()}


def new_id(kind: str) -> str:
    return f"{PREFIXES[kind]}_{ULID()}"


def id_pattern(kind: str) -> str:
    return _PATTERNS[kind].pattern


_SLUG_CHARS = re.compile(r"[^a-z0-9]+")


def slugify(text: str, max_len: int = 40) -> str:
    slug = _SLUG_CHARS.sub("-", text.lower()).strip("-")
    return slug[:max_len].rstrip("-") or "app"
