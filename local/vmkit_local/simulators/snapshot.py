"""A JSON snapshot of a simulator's state, so a restarted simulator picks up where it was.

Written atomically (temporary file + rename) after every change, owner-only, because
the state holds the simulators' own credentials (hashed tokens, the App key is in a
separate file). A missing path means "in memory only".
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".snapshot-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(state, handle, indent=1, sort_keys=True)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
