"""cloud-init for a sandbox VM: the cloud-config subset VMKit renders, run inside the root.

Modules run in cloud-init's order (write_files, then package installation, then
runcmd) and leave the files cloud-init leaves, so "did it work and why not" is read
the same way as on a VM: `/var/lib/cloud/data/result.json` and `status.json` (also
under `/run/cloud-init/`), `/var/log/cloud-init-output.log`,
`/var/lib/cloud/instance/boot-finished`.

One deliberate difference: real cloud-init runs `runcmd` as a plain `sh` script, so a
failing command does not stop the ones after it. The sandbox stops at the first
failure, so a bad checksum never starts the agent and the failed entry is named.
"""

from __future__ import annotations

import base64
import gzip
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from vmkit_local.files import write_atomically
from vmkit_local.sandbox.errors import CloudInitError, PathEscapeError
from vmkit_local.sandbox.rootfs import (
    add_system_group,
    atomic_write_json,
    read_json,
    resolve_in_root,
    rfc3339_now,
    vm_path,
)
from vmkit_local.sandbox.runcmd import (
    CommandContext,
    CommandFailed,
    check_supported,
    redact_argv,
    run_command,
)
from vmkit_local.sandbox.supervisor import ServiceSupervisor

log = logging.getLogger(__name__)

CLOUD_INIT_VERSION = "22.4.2"  # what Debian bookworm ships; shown in the output log
_PACKAGE_KEYS = frozenset({"package_update", "package_upgrade", "packages"})
_TOP_LEVEL_KEYS = _PACKAGE_KEYS | {"write_files", "runcmd"}
_WRITE_FILE_KEYS = frozenset({"path", "content", "encoding", "permissions", "owner"})
_ENCODINGS = {
    "text/plain": (),
    "b64": ("b64",),
    "base64": ("b64",),
    "gz": ("gz",),
    "gzip": ("gz",),
    "gz+b64": ("b64", "gz"),
    "gz+base64": ("b64", "gz"),
    "gzip+b64": ("b64", "gz"),
    "gzip+base64": ("b64", "gz"),
}
# Packages whose install creates a system group other steps rely on (docker's socket).
_PACKAGE_GROUPS = {"docker.io": "docker", "docker-ce": "docker"}


@dataclass(frozen=True)
class CloudInitResult:
    status: Literal["running", "done", "error"]
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "done"


def read_result(root: Path) -> CloudInitResult:
    """What `cloud-init status` would say about the VM at `root`."""
    status = read_json(root / "var/lib/cloud/data/status.json", {}).get("v1", {})
    if not status:
        return CloudInitResult("running")
    final = status.get("modules-final", {})
    if not final.get("finished"):
        return CloudInitResult("running")
    errors = [error for stage in _STAGES for error in status.get(stage, {}).get("errors", [])]
    return CloudInitResult("error" if errors else "done", errors)


_STAGES = ("init-local", "init", "modules-config", "modules-final")


def cloud_init_finished(root: Path) -> bool:
    """Whether cloud-init ran to its end on this instance (success or not)."""
    return (root / "var/lib/cloud/instance/boot-finished").exists()


def stored_user_data(root: Path) -> str:
    return (root / "var/lib/cloud/instance/user-data.txt").read_text()


class CloudInit:
    """Runs one instance's user data once, as cloud-init does on first boot.

    A run cut short by a power-off leaves no `boot-finished`, so the next boot runs it
    again, as cloud-init re-runs the modules of an instance that never completed.
    """

    def __init__(
        self,
        root: Path,
        supervisor: ServiceSupervisor,
        *,
        instance_id: str,
        cancelled: threading.Event,
        time_scale: float = 1.0,
        download_timeout: float = 30.0,
    ):
        self.root = root
        self.instance_id = instance_id
        self._output_log = root / "var/log/cloud-init-output.log"
        self._ctx = CommandContext(
            root=root,
            supervisor=supervisor,
            output=self._output,
            cancelled=cancelled,
            time_scale=time_scale,
            download_timeout=download_timeout,
        )

    def run(self, user_data: str | None) -> CloudInitResult:
        started = time.time()
        self._write_status(started, finished=None, errors=[])
        self._output(
            f"Cloud-init v. {CLOUD_INIT_VERSION} running 'modules:final' at {rfc3339_now()}."
        )
        errors: list[str] = []
        try:
            self._run_modules(user_data)
        except (CloudInitError, PathEscapeError) as error:
            self._output(f"cloud-init: ERROR: {error.message}")
            if self._ctx.cancelled.is_set():
                return CloudInitResult("running")  # not finished: the next boot runs it again
            errors.append(error.message)
            log.warning("cloud-init failed on instance %s: %s", self.instance_id, error.message)
        self._write_status(started, finished=time.time(), errors=errors)
        elapsed = time.time() - started
        self._output(
            f"Cloud-init v. {CLOUD_INIT_VERSION} finished at {rfc3339_now()}. "
            f"Datasource DataSourceHetzner. Up {elapsed:.2f} seconds"
        )
        (self.root / "var/lib/cloud/instance").mkdir(parents=True, exist_ok=True)
        (self.root / "var/lib/cloud/instance/boot-finished").write_text(f"{time.time()}\n")
        return CloudInitResult("error" if errors else "done", errors)

    def _run_modules(self, user_data: str | None) -> None:
        config = self._parse(user_data)
        write_files = config.get("write_files") or []
        runcmd = config.get("runcmd") or []
        _check_structure(write_files, runcmd)
        for index, entry in enumerate(write_files):
            self._write_file(f"write_files[{index}]", entry)
        self._record_packages(config)
        for index, argv in enumerate(runcmd):
            if self._ctx.cancelled.is_set():
                raise CloudInitError(f"runcmd[{index}]", "interrupted: the VM was powered off")
            shown = " ".join(redact_argv(argv))
            self._output(f"+ {shown}")
            try:
                run_command(self._ctx, argv)
            except (CommandFailed, PathEscapeError) as error:
                raise CloudInitError(f"runcmd[{index}] {shown!r}", error.message) from None

    def _parse(self, user_data: str | None) -> dict[str, Any]:
        instance_dir = self.root / "var/lib/cloud/instance"
        instance_dir.mkdir(parents=True, exist_ok=True)
        text = user_data or ""
        write_atomically(instance_dir / "user-data.txt", text, mode=0o600)
        if not text.strip():
            return {}
        if not text.startswith("#cloud-config"):
            first = text.splitlines()[0][:40]
            raise CloudInitError(
                "user-data", f"only '#cloud-config' user data is interpreted, got {first!r}"
            )
        try:
            config = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise CloudInitError("user-data", f"invalid YAML: {error}") from None
        if config is None:
            return {}
        if not isinstance(config, dict):
            raise CloudInitError("user-data", "cloud-config must be a mapping")
        unknown = sorted(set(config) - _TOP_LEVEL_KEYS)
        if unknown:
            raise CloudInitError(
                unknown[0], f"cloud-config key {unknown[0]!r} is not interpreted by the sandbox"
            )
        return config

    def _write_file(self, entry: str, spec: dict[str, Any]) -> None:
        path = resolve_in_root(self.root, spec["path"])
        data = _decode(entry, spec.get("content", ""), spec.get("encoding", "text/plain"))
        mode = _permissions(entry, spec.get("permissions", "0644"))
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, data, mode=mode)
        owners_file = self.root / "var/lib/vmkit-sandbox/owners.json"
        owners = read_json(owners_file, {})
        owners[vm_path(self.root, path)] = str(spec.get("owner", "root:root"))
        atomic_write_json(owners_file, owners)

    def _record_packages(self, config: dict[str, Any]) -> None:
        packages = config.get("packages") or []
        if not isinstance(packages, list) or not all(isinstance(p, str) for p in packages):
            raise CloudInitError("packages", "must be a list of package names")
        if not packages and not any(config.get(key) for key in _PACKAGE_KEYS):
            return
        self._output(
            "Skipped apt-get (sandbox): package_update/upgrade and install of "
            f"{', '.join(packages) or 'nothing'} are recorded, not run"
        )
        for package in packages:
            group = _PACKAGE_GROUPS.get(package)
            if group and add_system_group(self.root, group):
                self._output(f"Adding group '{group}' (as the {package} package does)")
        record = self.root / "var/lib/vmkit-sandbox/packages.json"
        atomic_write_json(record, {"requested": packages, "installed": False})

    def _write_status(self, started: float, finished: float | None, errors: list[str]) -> None:
        stage = {"start": started, "finished": finished, "errors": errors, "recoverable_errors": {}}
        done = {"start": started, "finished": started, "errors": [], "recoverable_errors": {}}
        status = {
            "v1": {
                "datasource": "DataSourceHetzner",
                "init-local": done,
                "init": done,
                "modules-config": done,
                "modules-final": stage,
                "stage": None if finished else "modules-final",
            }
        }
        for directory in ("var/lib/cloud/data", "run/cloud-init"):
            atomic_write_json(self.root / directory / "status.json", status)
            if finished:
                result = {"v1": {"datasource": "DataSourceHetzner", "errors": errors}}
                atomic_write_json(self.root / directory / "result.json", result)

    def _output(self, line: str) -> None:
        self._output_log.parent.mkdir(parents=True, exist_ok=True)
        with self._output_log.open("a") as handle:
            handle.write(line + "\n")


def _check_structure(write_files: Any, runcmd: Any) -> None:
    """Refuse the whole user data before anything runs when its shape is outside the subset."""
    if not isinstance(write_files, list):
        raise CloudInitError("write_files", "must be a list")
    for index, spec in enumerate(write_files):
        entry = f"write_files[{index}]"
        if not isinstance(spec, dict) or not isinstance(spec.get("path"), str):
            raise CloudInitError(entry, "needs a 'path'")
        unknown = sorted(set(spec) - _WRITE_FILE_KEYS)
        if unknown:
            raise CloudInitError(entry, f"key {unknown[0]!r} is not interpreted by the sandbox")
    if not isinstance(runcmd, list):
        raise CloudInitError("runcmd", "must be a list")
    for index, argv in enumerate(runcmd):
        entry = f"runcmd[{index}]"
        if isinstance(argv, str):
            raise CloudInitError(
                entry, f"shell string {argv!r} refused: the sandbox only runs argv lists"
            )
        if not isinstance(argv, list):
            raise CloudInitError(entry, "must be a list of strings")
        try:
            check_supported(argv)
        except CommandFailed as error:
            shown = " ".join(redact_argv(argv))
            raise CloudInitError(f"{entry} {shown!r}", error.message) from None


def _decode(entry: str, content: str | bytes, encoding: str) -> bytes:
    steps = _ENCODINGS.get(str(encoding).lower())
    if steps is None:
        raise CloudInitError(entry, f"unknown encoding {encoding!r}")
    data = content if isinstance(content, bytes) else str(content).encode()
    try:
        for step in steps:
            data = base64.b64decode(data) if step == "b64" else gzip.decompress(data)
    except (ValueError, OSError) as error:
        raise CloudInitError(entry, f"content is not valid {encoding}: {error}") from None
    return data


def _permissions(entry: str, value: str | int) -> int:
    if isinstance(value, int):  # YAML 1.1 reads an unquoted 0644 as octal already
        return value
    try:
        return int(str(value), 8)
    except ValueError:
        raise CloudInitError(entry, f"permissions {value!r} is not an octal mode") from None
