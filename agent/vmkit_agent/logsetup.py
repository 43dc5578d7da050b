"""Logging to stderr, which systemd hands to the journal.

Every line passes through the redactor (the token would otherwise appear in
websockets' debug dump of the handshake headers). Under systemd (JOURNAL_STREAM is
set) lines carry a `<N>` syslog priority prefix so `journalctl -p err` works; the
journal adds its own timestamps. Warnings and errors are also kept in a short ring
that `diagnose` reports.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections import deque
from typing import Any, TextIO

from vmkit_agent.redact import Redactor

RECENT_ERRORS = 20
_MAX_RECENT_MESSAGE = 500
_SYSLOG_PRIORITY = {"DEBUG": 7, "INFO": 6, "WARNING": 4, "ERROR": 3, "CRITICAL": 2}


class _RedactingFormatter(logging.Formatter):
    def __init__(self, fmt: str, redactor: Redactor):
        super().__init__(fmt)
        self._redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        record.priority = _SYSLOG_PRIORITY.get(record.levelname, 6)
        return self._redactor(super().format(record))


class _RecentErrors(logging.Handler):
    def __init__(self, ring: deque[dict[str, Any]], redactor: Redactor):
        super().__init__(logging.WARNING)
        self._ring = ring
        self._redactor = redactor

    def emit(self, record: logging.LogRecord) -> None:
        self._ring.append(
            {
                "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
                "level": record.levelname.lower(),
                "logger": record.name,
                "message": self._redactor(record.getMessage())[:_MAX_RECENT_MESSAGE],
            }
        )


def configure_logging(
    level: str, redactor: Redactor, *, stream: TextIO | None = None
) -> deque[dict[str, Any]]:
    """Set up the root logger; returns the live ring of recent warnings and errors."""
    if os.environ.get("JOURNAL_STREAM"):
        fmt = "<%(priority)d>%(name)s: %(message)s"
    else:
        fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    console = logging.StreamHandler(stream or sys.stderr)
    console.setFormatter(_RedactingFormatter(fmt, redactor))
    recent: deque[dict[str, Any]] = deque(maxlen=RECENT_ERRORS)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(console)
    root.addHandler(_RecentErrors(recent, redactor))
    root.setLevel(level.upper())
    return recent
