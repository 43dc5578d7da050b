"""The log of a simulated Actions run, in the shape GitHub's raw job log has.

Every line starts with an RFC 3339 timestamp; steps open with `##[group]` and close
with `##[endgroup]`; errors are `##[error]` lines. Secret values are masked as `***`
the moment a line is written, as the runner masks registered secrets, so nothing a
deploy prints (including the app's own output) can leak one into the log.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from vmkit_local.sandbox.rootfs import rfc3339_now

_MIN_MASKED_LENGTH = 4  # shorter values would mask ordinary words


class ActionsLog:
    def __init__(self, secrets: Iterable[str] = ()):
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._masked: set[str] = set()
        self.add_mask(*secrets)

    def add_mask(self, *values: str) -> None:
        """`::add-mask::` for values learnt during the run (resolved Kamal secrets)."""
        for value in values:
            for part in (value, *value.splitlines()):
                if len(part.strip()) >= _MIN_MASKED_LENGTH:
                    self._masked.add(part.strip())

    def line(self, text: str = "") -> None:
        for masked in sorted(self._masked, key=len, reverse=True):
            text = text.replace(masked, "***")
        with self._lock:
            for part in text.splitlines() or [""]:
                self._lines.append(f"{rfc3339_now()} {part}")

    def group(self, title: str) -> None:
        self.line(f"##[group]{title}")

    def end_group(self) -> None:
        self.line("##[endgroup]")

    def error(self, text: str) -> None:
        self.line(f"##[error]{text}")

    def text(self) -> str:
        with self._lock:
            return "\n".join(self._lines) + "\n"
