"""Writing a file so that a reader sees the old content or the new, never half of it.

The stack's data directory, the simulators' snapshots and the sandbox VMs' state files
are all read by other threads or processes while they are rewritten (a restarted
stack, a container shim, the app router), so every one of them is written here.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, data: str | bytes, *, mode: int = 0o600) -> None:
    """Replace `path` with `data` in one rename; `mode` is set before the file appears.

    Owner-only by default: most of what the local stack keeps holds credentials.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data.encode() if isinstance(data, str) else data)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
