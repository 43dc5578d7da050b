"""Keeping secrets out of everything the agent writes: logs, replies, diagnose."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable

# Agent tokens and bearer credentials, wherever they appear in text.
_PATTERNS = (
    re.compile(r"vmka_[A-Za-z0-9_-]+"),
    re.compile(r"(?i)(bearer\s+)\S+"),
)


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()):
        self._secrets = [s for s in secrets if s]

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        text = _PATTERNS[0].sub("vmka_[redacted]", text)
        return _PATTERNS[1].sub(r"\1[redacted]", text)


def url_without_secrets(url: str) -> str:
    """The URL without user info or query: a presigned URL's signature is a credential."""
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))
