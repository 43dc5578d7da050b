"""What a command prints: JSON for programs, tables and lines for people.

With `--json` a command prints exactly one JSON document on stdout (or, for
`logs -f`, one per line) and nothing else there; its shape is the API's model for
that resource (`cli/vmkit_cli/README.md` lists them). Otherwise it prints for
people: colour only when stdout is a terminal and `NO_COLOR` is unset (rich's own
rules, which also honour `FORCE_COLOR`), and plain columns without trailing spaces
when piped, so `grep` and `awk` still work on them.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TextIO

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from rich.text import Text

# Colours by what a word means, the same in every command.
STATUS_STYLES = {
    "succeeded": "green",
    "failed": "red",
    "cancelled": "yellow",
    "waiting": "cyan",
    "waited": "green",
    "skipped": "dim",
    "running": "cyan",
    "queued": "dim",
    "healthy": "green",
    "unhealthy": "red",
    "starting": "cyan",
}


class Output:
    def __init__(
        self, *, json_mode: bool, stdout: TextIO | None = None, stderr: TextIO | None = None
    ):
        self.json_mode = json_mode
        self.console = Console(file=stdout or sys.stdout, highlight=False)
        self.errors = Console(file=stderr or sys.stderr, highlight=False)

    @property
    def is_terminal(self) -> bool:
        return self.console.is_terminal

    # -- machine output -------------------------------------------------------------------

    def emit(self, data: Any) -> None:
        """Print `data` (a model, a list of models, or plain JSON data) as JSON."""
        self.console.file.write(json.dumps(to_json(data), indent=2, ensure_ascii=False) + "\n")
        self.console.file.flush()

    def emit_line(self, data: Any) -> None:
        """One compact JSON document per line, for streams (`logs -f --json`)."""
        self.console.file.write(json.dumps(to_json(data), ensure_ascii=False) + "\n")
        self.console.file.flush()

    # -- a command's result, either way ------------------------------------------------------

    def result(self, data: Any, *lines: str | Text) -> int:
        """A command's result: `data` as JSON, or these lines for people. Exit code 0."""
        if self.json_mode:
            self.emit(data)
        for text in lines:
            self.line(text)
        return 0

    def listing(
        self,
        items: Sequence[BaseModel],
        headers: Sequence[str],
        row: Callable[[Any], Sequence[str | Text]],
        empty: str,
    ) -> int:
        """A list: `{"items": …}` as JSON, or a table (or what to do when it is empty)."""
        if self.json_mode:
            self.emit({"items": items, "next_cursor": None})
            return 0
        self.table(headers, [row(item) for item in items])
        if not items:
            self.line(empty)
        return 0

    # -- human output ---------------------------------------------------------------------

    def line(self, text: str | Text = "", style: str | None = None) -> None:
        if not self.json_mode:
            self.print(text if isinstance(text, Text) else Text(text, style=style or ""))

    def print(self, renderable: Any) -> None:
        self.console.print(renderable, soft_wrap=True)

    def warn(self, text: str) -> None:
        """Something to notice that is not the command's output: always on stderr."""
        self.errors.print(Text(text, style="yellow"), soft_wrap=True)

    def error(self, text: str) -> None:
        self.errors.print(Text(f"error: {text}", style="red"), soft_wrap=True)

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str | Text]]) -> None:
        if self.json_mode:
            return
        if not rows:
            return
        table = Table(box=None, pad_edge=False, header_style="bold", show_edge=False)
        for header in headers:
            table.add_column(header, overflow="fold")
        for row in rows:
            table.add_row(*row)
        if self.is_terminal:
            self.console.print(table)
            return
        # Piped: as wide as the content, one row per line, no padding at the end.
        buffer = io.StringIO()
        Console(file=buffer, width=100_000, color_system=None, highlight=False).print(table)
        for text in buffer.getvalue().splitlines():
            self.console.file.write(text.rstrip() + "\n")
        self.console.file.flush()

    def fields(self, pairs: Sequence[tuple[str, str | Text | None]]) -> None:
        """`name  value` lines, aligned, skipping empty values."""
        shown = [(k, v) for k, v in pairs if v not in (None, "")]
        width = max((len(k) for k, _ in shown), default=0)
        for key, value in shown:
            self.line(Text.assemble((f"{key:<{width}}  ", "bold"), value or ""))


def to_json(data: Any) -> Any:
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    if isinstance(data, list | tuple):
        return [to_json(item) for item in data]
    if isinstance(data, dict):
        return {key: to_json(value) for key, value in data.items()}
    return data


def status_text(text: str, status: str | None = None) -> Text:
    """`text` in the colour of `status` (by default, the text itself: `failed` in red)."""
    return Text(text, style=STATUS_STYLES.get(status or text.strip(), ""))


def duration(seconds: float) -> str:
    """4.2s, 3m04s, 1h02m: short enough for a column, exact enough to compare."""
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"


def ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    return f"{duration((now - moment) / timedelta(seconds=1))} ago"
