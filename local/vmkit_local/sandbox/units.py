"""systemd unit files, environment files and time spans, read as systemd reads them.

Only what the supervisor acts on is interpreted. Directives that cannot matter in the
sandbox (ordering, dependencies, logging targets, hardening) are accepted; directives
that would change how the process runs but are not emulated are refused by name, so a
unit that works here does what the real one does on a VM.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from vmkit_local.sandbox.errors import UnitError

# [Service] directives with no effect on how the sandbox runs the process.
_NO_EFFECT_SERVICE_KEYS = frozenset(
    {
        "User",
        "Group",
        "StandardOutput",
        "StandardError",
        "SyslogIdentifier",
        "KillMode",
        "NoNewPrivileges",
        "PrivateTmp",
        "ProtectHome",
        "ProtectSystem",
        "ReadWritePaths",
        "LimitNOFILE",
        "MemoryMax",
        "TasksMax",
        "StartLimitBurst",
        "StartLimitIntervalSec",
    }
)
_INTERPRETED_SERVICE_KEYS = frozenset(
    {
        "Type",
        "ExecStart",
        "Environment",
        "EnvironmentFile",
        "WorkingDirectory",
        "Restart",
        "RestartSec",
        "TimeoutStopSec",
    }
)
_RESTART_POLICIES = frozenset({"no", "always", "on-failure"})
_SERVICE_TYPES = frozenset({"simple", "exec"})
_TIME_UNITS = {
    "us": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
}


@dataclass(frozen=True)
class ServiceUnit:
    name: str
    description: str
    exec_start: list[str]
    environment: dict[str, str] = field(default_factory=dict)
    environment_files: list[tuple[str, bool]] = field(default_factory=list)  # (path, optional)
    working_directory: str | None = None
    restart: str = "no"
    restart_sec: float = 0.1  # systemd's default RestartSec=100ms
    timeout_stop_sec: float | None = None
    wanted_by: list[str] = field(default_factory=list)


def parse_unit(name: str, text: str) -> ServiceUnit:
    """Parse a `.service` file; refuse what the supervisor would silently get wrong."""
    sections = _parse_ini(name, text)
    service = sections.get("Service", {})
    unknown = set(service) - _INTERPRETED_SERVICE_KEYS - _NO_EFFECT_SERVICE_KEYS
    if unknown:
        keys = ", ".join(f"{key}=" for key in sorted(unknown))
        raise UnitError(f"{name}: [Service] {keys} not emulated by the sandbox supervisor")
    service_type = _last(service, "Type", "simple")
    if service_type not in _SERVICE_TYPES:
        raise UnitError(f"{name}: Type={service_type} not emulated (only simple, exec)")
    exec_starts = [v for v in service.get("ExecStart", []) if v]
    if len(exec_starts) != 1:
        raise UnitError(f"{name}: a simple service needs exactly one ExecStart=")
    restart = _last(service, "Restart", "no")
    if restart not in _RESTART_POLICIES:
        raise UnitError(f"{name}: Restart={restart} not emulated (no, always, on-failure)")
    environment: dict[str, str] = {}
    for line in service.get("Environment", []):
        for assignment in shlex.split(line):
            key, sep, value = assignment.partition("=")
            if not sep:
                raise UnitError(f"{name}: Environment= entry {assignment!r} has no '='")
            environment[key] = value
    timeout_stop = _last(service, "TimeoutStopSec", None)
    return ServiceUnit(
        name=name,
        description=_last(sections.get("Unit", {}), "Description", name),
        exec_start=_split_exec(name, exec_starts[0]),
        environment=environment,
        environment_files=[
            (path[1:], True) if path.startswith("-") else (path, False)
            for path in service.get("EnvironmentFile", [])
        ],
        working_directory=_last(service, "WorkingDirectory", None),
        restart=restart,
        restart_sec=parse_timespan(_last(service, "RestartSec", "100ms")),
        timeout_stop_sec=parse_timespan(timeout_stop) if timeout_stop else None,
        wanted_by=[
            target
            for line in sections.get("Install", {}).get("WantedBy", [])
            for target in line.split()
        ],
    )


def parse_timespan(value: str) -> float:
    """Seconds in a systemd time span: `5`, `5s`, `500ms`, `1min 30s`."""
    text = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    total = 0.0
    position = 0
    for match in re.finditer(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)", text):
        if match.start() != position or match.group(2) not in _TIME_UNITS:
            raise UnitError(f"invalid time span {value!r}")
        total += float(match.group(1)) * _TIME_UNITS[match.group(2)]
        position = match.end()
    if position != len(text) or not text:
        raise UnitError(f"invalid time span {value!r}")
    return total


def parse_environment_file(text: str) -> dict[str, str]:
    """KEY=VALUE lines as systemd's EnvironmentFile= reads them (quotes, comments)."""
    environment: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            continue  # systemd logs and ignores lines that are not assignments
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        environment[key] = value
    return environment


def find_unit_file(root: Path, name: str) -> Path | None:
    """Where systemd would load `name` from, in its search order, inside the root."""
    for directory in ("etc/systemd/system", "run/systemd/system", "lib/systemd/system"):
        candidate = root / directory / name
        if candidate.is_file():
            return candidate
    return None


def _parse_ini(name: str, text: str) -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    continued = ""
    for raw in text.splitlines():
        line = continued + raw.strip()
        continued = ""
        if line.endswith("\\"):
            continued = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        if current is None or not sep:
            raise UnitError(f"{name}: cannot parse line {raw!r}")
        values = current.setdefault(key.strip(), [])
        if value.strip():
            values.append(value.strip())
        else:
            values.clear()  # an empty assignment resets the list, as in systemd
    return sections


def _split_exec(name: str, command: str) -> list[str]:
    # Prefixes such as '-' (ignore failure) or '@' (argv0) change exit handling; the
    # supervisor treats exits the same way either way, so only '-' is accepted.
    command = command.removeprefix("-")
    if command[:1] in "@:+!":
        raise UnitError(f"{name}: ExecStart prefix {command[0]!r} not emulated")
    argv = shlex.split(command)
    if not argv or not argv[0].startswith("/"):
        raise UnitError(f"{name}: ExecStart must start with an absolute path, got {command!r}")
    return argv


def _last(section: dict[str, list[str]], key: str, default: str | None) -> str | None:
    values = section.get(key)
    return values[-1] if values else default
