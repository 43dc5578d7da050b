"""The sandbox's container runtime: containers are local processes with docker-like records.

Each container has, under `<root>/var/lib/vmkit-sandbox/containers/`:
- `<name>.json`, the state the agent reads (`name, image, state, health, pid, port,
  started_at, labels`, plus docker's `id`; the shim adds `exit_code`, `finished_at`
  when it ends);
- `<name>.log`, one `<RFC3339> <text>` line per output line;
- `<name>.config.json` (0600, it holds the environment), how to start it again, like
  docker's `config.v2.json`.

Containers get their own loopback port through `$PORT`: processes share the host's
network, so two versions of an app cannot both listen on its `app_port` as they would
in separate network namespaces.
"""

from __future__ import annotations

import secrets
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vmkit_local.lifetime import child_environment
from vmkit_local.sandbox.errors import SandboxError
from vmkit_local.sandbox.processes import signal_group, wait_gone
from vmkit_local.sandbox.rootfs import (
    atomic_write_json,
    locked,
    read_json,
    rfc3339_now,
    update_json,
)

CONTAINERS_DIR = "var/lib/vmkit-sandbox/containers"
_SHIM_MODULE = "vmkit_local.sandbox.containerd_shim"
# Shims this process started, by pid: a stop waits on (and so reaps) them directly.
_shims: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    image: str
    command: list[str]
    workdir: str  # host path of the image's app directory (the container's /workspace)
    env: dict[str, str]
    port: int
    labels: dict[str, str] = field(default_factory=dict)
    restart: str = "unless-stopped"  # what Kamal passes to `docker run --restart`


def containers_dir(root: Path) -> Path:
    return Path(root) / CONTAINERS_DIR


def free_port() -> int:
    """A loopback port nobody listens on right now, for a new container's $PORT."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_container(root: Path, spec: ContainerSpec) -> dict[str, Any]:
    """`docker run --detach`: start the container and return its state once it runs."""
    directory = containers_dir(Path(root).resolve())
    directory.mkdir(parents=True, exist_ok=True)
    state_path, log_path = directory / f"{spec.name}.json", directory / f"{spec.name}.log"
    atomic_write_json(
        directory / f"{spec.name}.config.json",
        {"spec": asdict(spec), "stopped_by_user": False},
        mode=0o600,
    )
    container_id = secrets.token_hex(32)
    atomic_write_json(
        state_path,
        {
            "id": container_id,
            "name": spec.name,
            "image": spec.image,
            "state": "running",
            "health": "starting",
            "pid": None,
            "port": spec.port,
            "started_at": rfc3339_now(),
            "labels": spec.labels,
        },
    )
    shim_argv = [sys.executable, "-I", "-m", _SHIM_MODULE, str(directory), container_id]
    shim_argv += [str(log_path), "--"]
    with log_path.open("ab") as shim_errors:  # a crashing shim explains itself in the log
        shim = subprocess.Popen(
            [*shim_argv, *spec.command],
            env=child_environment({**spec.env, "PORT": str(spec.port)}),  # ends with the stack
            cwd=spec.workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=shim_errors,
            start_new_session=True,
        )
    assert shim.stdout is not None
    handshake = shim.stdout.readline().decode().strip()
    shim.stdout.close()
    _shims[shim.pid] = shim
    threading.Thread(target=_reap, args=(shim,), name=f"reap-{spec.name}", daemon=True).start()
    update_json(directory / f"{spec.name}.config.json", {"shim_pid": shim.pid}, mode=0o600)
    if not handshake.isdigit():
        raise SandboxError(f"container {spec.name} failed to start: {_last_log_line(log_path)}")
    return read_json(state_path)


def container_state(root: Path, name: str) -> dict[str, Any] | None:
    return read_json(containers_dir(root) / f"{name}.json")


def list_containers(root: Path) -> list[dict[str, Any]]:
    """`docker ps -a`: every container's state, oldest first."""
    directory = containers_dir(root)
    states = [read_json(path) for path in directory.glob("*.json") if _is_state_file(path)]
    return sorted((s for s in states if s), key=lambda s: s["started_at"])


def set_health(root: Path, name: str, health: str) -> None:
    update_json(containers_dir(root) / f"{name}.json", {"health": health})


def stop_container(root: Path, name: str, timeout: float = 10.0, *, by_user: bool = True) -> None:
    """`docker stop`: SIGTERM, SIGKILL after `timeout`, wait until it is gone.

    `by_user=False` is a stop caused by the VM powering off: with the `unless-stopped`
    policy such a container is started again when the VM boots.
    """
    directory = containers_dir(root)
    config_path = directory / f"{name}.config.json"
    config = read_json(config_path)
    state = container_state(root, name)
    if config is None or state is None:
        raise SandboxError(f"No such container: {name}")
    update_json(config_path, {"stopped_by_user": by_user}, mode=0o600)
    shim_pid = config.get("shim_pid")
    if state["state"] == "running" and shim_pid:
        signal_group(shim_pid, signal.SIGTERM)
        if not _wait_shim(shim_pid, timeout):
            signal_group(shim_pid, signal.SIGKILL)
            _wait_shim(shim_pid, 5.0)
        signal_group(shim_pid, signal.SIGKILL)  # anything the app left in its group
    with locked(directory / f"{name}.json"):
        state = read_json(directory / f"{name}.json")
        if state["state"] != "exited":
            state.update(state="exited", exit_code=137, finished_at=rfc3339_now())
            atomic_write_json(directory / f"{name}.json", state)


def stop_all_containers(root: Path, timeout: float = 10.0) -> None:
    """What powering off does to the containers: stop each, remembering it was not asked."""
    for state in list_containers(root):
        if state["state"] == "running":
            stop_container(root, state["name"], timeout, by_user=False)


def restart_containers(root: Path) -> list[str]:
    """What the docker daemon does at boot: start `unless-stopped` containers again.

    A container still recorded as running whose shim is gone was lost with the host
    (the local stack was killed): it is recorded as killed first, as docker records the
    containers of a crashed host, and then restarted by its policy like the others.
    """
    _record_lost_containers(root)
    started = []
    for state in list_containers(root):
        config = read_json(containers_dir(root) / f"{state['name']}.config.json") or {}
        spec = config.get("spec")
        wanted = spec and spec["restart"] in ("always", "unless-stopped")
        if state["state"] == "exited" and wanted and not config.get("stopped_by_user"):
            run_container(root, ContainerSpec(**spec))
            started.append(spec["name"])
    return started


def _record_lost_containers(root: Path) -> None:
    directory = containers_dir(root)
    for state in list_containers(root):
        if state["state"] != "running":
            continue
        config = read_json(directory / f"{state['name']}.config.json") or {}
        if not _is_shim_of(config.get("shim_pid"), state["id"]):
            lost = {"state": "exited", "exit_code": 137, "finished_at": rfc3339_now()}
            update_json(directory / f"{state['name']}.json", lost)


def _is_shim_of(pid: int | None, container_id: str) -> bool:
    """Is `pid` alive and the shim of this container (not a reused pid)?"""
    if not pid:
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return container_id.encode() in argv


def rename_container(root: Path, name: str, new_name: str) -> None:
    """`docker rename`: the record moves; the running process is untouched."""
    directory = containers_dir(root)
    for suffix in (".json", ".log", ".config.json"):
        source = directory / f"{name}{suffix}"
        if source.exists():
            source.replace(directory / f"{new_name}{suffix}")
        (directory / f".{name}{suffix}.lock").unlink(missing_ok=True)
    update_json(directory / f"{new_name}.json", {"name": new_name})
    config = read_json(directory / f"{new_name}.config.json")
    config["spec"]["name"] = new_name
    atomic_write_json(directory / f"{new_name}.config.json", config, mode=0o600)


def remove_container(root: Path, name: str) -> None:
    """`docker rm` of a stopped container."""
    directory = containers_dir(root)
    for suffix in (".json", ".log", ".config.json"):
        (directory / f"{name}{suffix}").unlink(missing_ok=True)
        (directory / f".{name}{suffix}.lock").unlink(missing_ok=True)


def read_log_tail(root: Path, name: str, lines: int) -> list[str]:
    path = containers_dir(root) / f"{name}.log"
    return path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else []


def _reap(shim: subprocess.Popen[bytes]) -> None:
    """Collect a shim's exit status as soon as it ends, so it never lingers as a zombie."""
    shim.wait()
    _shims.pop(shim.pid, None)


def _wait_shim(pid: int, timeout: float) -> bool:
    """Wait for a shim to end: reaping it if this process started it, else via its pidfd."""
    shim = _shims.get(pid)
    if shim is None:
        return wait_gone(pid, timeout)
    try:
        shim.wait(timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


def _is_state_file(path: Path) -> bool:
    return not path.name.startswith(".") and not path.name.endswith(".config.json")


def _last_log_line(path: Path) -> str:
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    return lines[-1].split(" ", 1)[-1] if lines else "no output"
