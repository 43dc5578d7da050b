"""Finding a running local stack from the `.vmkit/local.json` it writes once ready.

`vmkit local up` writes the file in the checkout it runs from and removes it on stop,
so its presence (with a live pid) means "ready". The CLI looks in the current
directory and each parent, as git looks for `.git`, then in the checkout the `vmkit`
command itself was installed from (where `vmkit local up` puts it by default), so a
command run anywhere inside a project finds its stack without any setting.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATE_FILE = Path(".vmkit") / "local.json"
# cli/vmkit_cli/localstack.py → the checkout, for an editable install.
_CHECKOUT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class LocalStack:
    """What a running local stack wrote about itself."""

    path: Path
    facts: dict[str, Any]

    @property
    def rest_url(self) -> str:
        return str(self.facts["rest_url"])

    @property
    def api_key(self) -> str:
        return str(self.facts["api_key"])


def candidates(start: Path | None = None) -> list[Path]:
    here = (start or Path.cwd()).resolve()
    found = [directory / STATE_FILE for directory in (here, *here.parents)]
    if _CHECKOUT / STATE_FILE not in found:
        found.append(_CHECKOUT / STATE_FILE)
    return found


def find(start: Path | None = None) -> LocalStack | None:
    """The nearest running local stack, or None."""
    for path in candidates(start):
        stack = read(path)
        if stack is not None:
            return stack
    return None


def read(path: Path) -> LocalStack | None:
    """The stack that wrote `path`, if the file is there and its process is alive."""
    try:
        facts = json.loads(path.read_text())
        pid = int(facts["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not facts.get("rest_url") or not facts.get("api_key"):
        return None
    if not _alive(pid):
        return None
    return LocalStack(path, facts)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True
