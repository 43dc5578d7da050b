"""Nothing outlives the local stack: every process it starts ends with it, even on `kill -9`.

Each run of the stack has an id, put in its environment as `VMKIT_LOCAL_RUN`, so every
process it starts carries it, at any depth: sandbox agents, container shims, the apps
they run, function workers, git. (Code that builds a child's environment from scratch
passes it on with `child_environment`.) A process's starting environment is what
`/proc/<pid>/environ` shows, so the run's processes can be found even after their
parents died and they were reparented to init, and a reused pid is never mistaken for
one of them.

The stack starts a small reaper process (`python -m vmkit_local.lifetime RUN`) in its
own session, holding the read end of a pipe whose write end only the stack holds, and a pidfd of
the stack. When the stack ends, however it ends, the pipe closes or the pidfd turns
readable, and the reaper SIGKILLs every process of the run, then exits. On a clean stop the stack's parts have already stopped their
own children and the reaper finds nothing; after a crash it does the stopping. The
next start also ends any process a previous run left (a reaper that was itself
killed), before it binds its ports.

`PR_SET_PDEATHSIG` was the other way: it fires when the *thread* that spawned a child
exits (the sandbox spawns from short-lived threads), and it reaches only direct
children, not the apps a container shim starts.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

RUN_VARIABLE = "VMKIT_LOCAL_RUN"
_END_TIMEOUT_S = 10.0


def child_environment(env: Mapping[str, str]) -> dict[str, str]:
    """`env` for a child process, still marked as one of the current run's."""
    run = os.environ.get(RUN_VARIABLE)
    return {**env, RUN_VARIABLE: run} if run else dict(env)


def processes_of_run(run: str) -> list[int]:
    """Live processes started with this run's mark (zombies have no environment left)."""
    mark = f"{RUN_VARIABLE}={run}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environment = (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if mark in environment.split(b"\0"):
            found.append(int(entry.name))
    return found


def end_run(run: str, timeout: float = _END_TIMEOUT_S) -> list[int]:
    """SIGKILL every process of the run until none is left; returns those it killed.

    Repeats, because a process may start one more child while the others are killed.
    """
    killed: list[int] = []
    deadline = time.monotonic() + timeout
    while (pids := processes_of_run(run)) and time.monotonic() < deadline:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.01)
    return sorted(set(killed))


class Reaper:
    """The watcher that ends the run's processes when the stack ends."""

    def __init__(self, run: str):
        self.run = run
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-I", "-m", "vmkit_local.lifetime", self.run, str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            start_new_session=True,  # a signal to the stack's process group must not reach it
            env=child_environment(os.environ),
        )

    def stop(self, timeout: float = _END_TIMEOUT_S) -> None:
        """Close the pipe (as the stack's death would) and wait for the reaper's sweep."""
        if self._process is None:
            return
        assert self._process.stdin is not None
        self._process.stdin.close()
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None


def _watch(run: str, stack_pid: int) -> int:
    """Wait for the stack to end (it closed the pipe, or it died), then end its run."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the stack, which stops
    try:
        stack = os.pidfd_open(stack_pid)
    except ProcessLookupError:
        stack = None  # already gone
    # The pidfd matters when the pipe cannot close: a child forked without exec keeps a
    # copy of its write end.
    if stack is not None and os.getppid() == stack_pid:
        select.select([sys.stdin.buffer, stack], [], [])
    end_run(run)
    return 0


if __name__ == "__main__":
    sys.exit(_watch(sys.argv[1], int(sys.argv[2])))
