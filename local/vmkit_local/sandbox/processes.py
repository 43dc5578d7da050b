"""Signalling and waiting on process groups, shared by the supervisor and the runtime.

Every sandbox service and container runs as the leader of its own process group, the
closest stand-in for a cgroup: signalling the group reaches whatever the process forked.
"""

from __future__ import annotations

import contextlib
import os
import select


def signal_group(pgid: int, sig: int) -> None:
    """Send `sig` to the group; a group that is already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait for a process that need not be our child to exit (a pidfd, so no polling)."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([pidfd], [], [], timeout)
        return bool(readable)
    finally:
        os.close(pidfd)
