"""A JSON snapshot of a simulator's state, so a restarted simulator picks up where it was.

Written atomically (temporary file + rename) after every change, owner-only, because
the state holds the simulators' own credentials (hashed tokens, the App key is in a
separate file). A missing path means "in memory only".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vmkit_local.files import write_atomically


class JsonSnapshot:
    def __init__(self, path: Path | None) -> None:
        self.path = path

    def load(self) -> dict[str, Any] | None:
        if self.path is None or not self.path.exists():
            return None
        return json.loads(self.path.read_text())

    def save(self, state: dict[str, Any]) -> None:
        if self.path is None:
            return
        write_atomically(self.path, json.dumps(state, indent=1, sort_keys=True), mode=0o600)
