"""The part of systemd a sandbox VM needs: start enabled services and keep them running.

Each service runs in its own process group (its "cgroup"), so stopping it takes its
children too: SIGTERM to the group, then SIGKILL after the stop timeout, then wait, as
systemd's KillMode=control-group does. Output goes to a journal file per unit in the
shape `journalctl -o short-iso` prints, with systemd's own messages in between, so
"why did the agent restart" is answered by reading one file.

Times from unit files (RestartSec, TimeoutStopSec) are multiplied by `time_scale`, so
tests and the local stack do not wait real-VM seconds for a restart.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import IO

from vmkit_local.lifetime import child_environment
from vmkit_local.sandbox.errors import UnitError
from vmkit_local.sandbox.processes import signal_group
from vmkit_local.sandbox.rootfs import resolve_in_root, rfc3339_now
from vmkit_local.sandbox.units import (
    ServiceUnit,
    find_unit_file,
    parse_environment_file,
    parse_unit,
)

log = logging.getLogger(__name__)

# Interpreters a unit may name; the sandbox runs the one the local stack runs on.
_PYTHON_PATHS = frozenset({"/usr/bin/python3", "/usr/bin/python"})
_DEFAULT_TIMEOUT_STOP_SEC = 90.0  # systemd's DefaultTimeoutStopSec


class Journal:
    """One unit's log file; lines from the process and from "systemd" interleave safely."""

    def __init__(self, path: Path, hostname: str, identifier: str):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()
        self._hostname = hostname
        self._identifier = identifier

    def systemd(self, text: str) -> None:
        self._write("systemd", 1, text)

    def process(self, pid: int, text: str) -> None:
        self._write(self._identifier, pid, text)

    def pump(self, pid: int, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            self.process(pid, raw.decode("utf-8", "replace").rstrip("\n"))
        stream.close()

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def _write(self, identifier: str, pid: int, text: str) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.write(f"{rfc3339_now()} {self._hostname} {identifier}[{pid}]: {text}\n")
                self._file.flush()


class _RunningService:
    """One started unit: its current process and the thread that restarts it."""

    def __init__(self, supervisor: ServiceSupervisor, unit: ServiceUnit, journal: Journal):
        self.supervisor = supervisor
        self.unit = unit
        self.journal = journal
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.process: subprocess.Popen[bytes] | None = None
        self.pumps: list[threading.Thread] = []
        self.thread = threading.Thread(target=self._watch, name=f"unit-{unit.name}", daemon=True)

    def start(self) -> None:
        self._spawn()
        self.thread.start()

    def stop(self, timeout: float) -> None:
        with self.lock:
            self.stopping.set()
            process = self.process
        if process is not None and process.poll() is None:
            self.journal.systemd(f"Stopping {self.unit.name} - {self.unit.description}...")
            signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.journal.systemd(f"{self.unit.name}: State 'stop-sigterm' timed out. Killing.")
                signal_group(process.pid, signal.SIGKILL)
                process.wait()
        self.thread.join()
        self.journal.systemd(f"Stopped {self.unit.name} - {self.unit.description}.")

    def _spawn(self) -> None:
        argv, env, cwd = self.supervisor.command_for(self.unit)
        with self.lock:
            if self.stopping.is_set():
                return
            try:
                process = subprocess.Popen(
                    argv,
                    env=env,
                    cwd=cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as error:
                self.journal.systemd(f"{self.unit.name}: Failed to execute {argv[0]}: {error}")
                message = f"{self.unit.name}: failed to execute {argv[0]}: {error.strerror}"
                raise UnitError(message) from error
            self.process = process
            pump = threading.Thread(
                target=self.journal.pump, args=(process.pid, process.stdout), daemon=True
            )
            pump.start()
            self.pumps.append(pump)
        self.journal.systemd(f"Started {self.unit.name} - {self.unit.description}.")
        self.supervisor.record_start(self.unit.name)

    def _watch(self) -> None:
        restarts = 0
        while True:
            process = self.process
            assert process is not None
            code = process.wait()
            signal_group(process.pid, signal.SIGKILL)  # leftovers of the unit's cgroup
            for pump in self.pumps:
                pump.join(timeout=1)
            self.pumps.clear()
            if self.stopping.is_set():
                return
            self.journal.systemd(f"{self.unit.name}: {_describe_exit(code)}")
            if not _should_restart(self.unit.restart, code):
                self.supervisor.record_inactive(self.unit.name)
                return
            delay = self.unit.restart_sec * self.supervisor.time_scale
            if self.stopping.wait(delay):
                return
            restarts += 1
            self.journal.systemd(
                f"{self.unit.name}: Scheduled restart job, restart counter is at {restarts}."
            )
            try:
                self._spawn()
            except UnitError:
                self.supervisor.record_inactive(self.unit.name)
                return
            if self.process is None or self.stopping.is_set():
                return


class ServiceSupervisor:
    """systemctl and PID 1 for one sandbox VM."""

    def __init__(
        self,
        root: Path,
        hostname: str,
        *,
        time_scale: float = 1.0,
        python: str = sys.executable,
    ):
        self.root = Path(root)
        self.hostname = hostname
        self.time_scale = time_scale
        self.python = python
        self._services: dict[str, _RunningService] = {}
        self._journals: dict[str, Journal] = {}
        self._starts: Counter[str] = Counter()
        self._changed = threading.Condition()

    # systemctl verbs ---------------------------------------------------------------

    def daemon_reload(self) -> None:
        """Unit files are read at every start, so a reload only checks they parse."""
        for unit_dir in ("etc/systemd/system", "lib/systemd/system"):
            for path in sorted((self.root / unit_dir).glob("*.service")):
                self._load(path.name)

    def enable(self, name: str) -> list[str]:
        """Create the `.wants/` symlinks of the unit's [Install] section, as systemd does."""
        unit = self._load(name)
        created = []
        for target in unit.wanted_by:
            link = self.root / "etc/systemd/system" / f"{target}.wants" / name
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.is_symlink():
                link.symlink_to(f"/etc/systemd/system/{name}")
                created.append(f"/etc/systemd/system/{target}.wants/{name}")
        return created

    def start(self, name: str) -> None:
        with self._changed:
            if name in self._services:
                return
        unit = self._load(name)
        service = _RunningService(self, unit, self._journal(name))
        with self._changed:
            self._services[name] = service
        try:
            service.start()
        except UnitError:
            self.record_inactive(name)
            raise

    def stop(self, name: str) -> None:
        with self._changed:
            service = self._services.get(name)
        if service is not None:
            timeout = (service.unit.timeout_stop_sec or _DEFAULT_TIMEOUT_STOP_SEC) * self.time_scale
            service.stop(timeout)
            self.record_inactive(name)

    def restart(self, name: str) -> None:
        self.stop(name)
        self.start(name)

    def start_enabled(self) -> list[str]:
        """What boot does: start every unit some target wants; return the failures.

        A unit that fails to start does not stop the others, as systemd boots on.
        """
        wants = sorted((self.root / "etc/systemd/system").glob("*.wants/*.service"))
        failures = []
        for name in dict.fromkeys(link.name for link in wants):
            try:
                self.start(name)
            except UnitError as error:
                failures.append(error.message)
        return failures

    def stop_all(self) -> None:
        with self._changed:
            names = list(self._services)
        for name in names:
            self.stop(name)
        for journal in self._journals.values():
            journal.close()
        self._journals.clear()

    # state, for callers and tests ------------------------------------------------------

    def is_active(self, name: str) -> bool:
        with self._changed:
            return name in self._services

    def main_pid(self, name: str) -> int | None:
        with self._changed:
            service = self._services.get(name)
        process = service.process if service else None
        return process.pid if process and process.poll() is None else None

    def wait_for_start(self, name: str, count: int = 1, timeout: float = 10.0) -> bool:
        """Block until `name` has been started `count` times in total (restarts count)."""
        with self._changed:
            return self._changed.wait_for(lambda: self._starts[name] >= count, timeout)

    def wait_for_inactive(self, name: str, timeout: float = 10.0) -> bool:
        """Block until `name` is not running (exited without restart, or stopped)."""
        with self._changed:
            return self._changed.wait_for(lambda: name not in self._services, timeout)

    def record_start(self, name: str) -> None:
        with self._changed:
            self._starts[name] += 1
            self._changed.notify_all()

    def record_inactive(self, name: str) -> None:
        with self._changed:
            self._services.pop(name, None)
            self._changed.notify_all()

    # how a unit becomes a process -----------------------------------------------------

    def command_for(self, unit: ServiceUnit) -> tuple[list[str], dict[str, str], Path]:
        """argv, environment and working directory for the unit, mapped into the root."""
        first, *rest = unit.exec_start
        program = self.python if first in _PYTHON_PATHS else str(self._in_root(first))
        argv = [program, *(str(self._in_root(a)) if a.startswith("/") else a for a in rest)]
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "INVOCATION_ID": secrets.token_hex(16),
            **unit.environment,
        }
        for path, optional in unit.environment_files:
            file = resolve_in_root(self.root, path)
            if file.is_file():
                env.update(parse_environment_file(file.read_text()))
            elif not optional:
                raise UnitError(f"{unit.name}: Failed to load environment file {path}: not found")
        env["VMKIT_ROOT"] = str(self.root)
        env = child_environment(env)  # it ends with the local stack (vmkit_local.lifetime)
        cwd = self._in_root(unit.working_directory) if unit.working_directory else self.root
        return argv, env, cwd

    def _in_root(self, path: str) -> Path:
        return resolve_in_root(self.root, path)

    def _load(self, name: str) -> ServiceUnit:
        path = find_unit_file(self.root, name)
        if path is None:
            raise UnitError(f"Unit {name} not found.")
        return parse_unit(name, path.read_text())

    def _journal(self, name: str) -> Journal:
        identifier = name.removesuffix(".service")
        if name not in self._journals:
            path = self.root / "var/log/journal" / f"{identifier}.log"
            self._journals[name] = Journal(path, self.hostname, identifier)
        return self._journals[name]


def _should_restart(policy: str, code: int) -> bool:
    return policy == "always" or (policy == "on-failure" and code != 0)


def _describe_exit(code: int) -> str:
    if code < 0:
        name = signal.Signals(-code).name.removeprefix("SIG")
        return f"Main process exited, code=killed, status={-code}/{name}"
    result = "SUCCESS" if code == 0 else "FAILURE"
    return f"Main process exited, code=exited, status={code}/{result}"
