"""A fleet of sandbox VMs: what the Hetzner and DigitalOcean simulators create, power,
rebuild and delete.

A VM is `<data_dir>/vms/<server_id>/`: `vm.json` (name, fake public IP, labels, power
state), `user-data` (what the cloud's metadata service would serve) and `root/`, the
directory that acts as its `/`. Booting lays down a base image,
then runs the user data with cloud-init's subset in the background, as a real server
is "running" while cloud-init is still at work. Power and lifecycle follow a real VM:
cloud-init runs once per instance; a reboot starts the enabled units and the
`unless-stopped` containers again; destroy stops every process and deletes the tree.

IPs come from TEST-NET-3 (203.0.113.0/24, RFC 5737), which never routes anywhere,
handed out round-robin so a destroyed VM's IP is not the next VM's.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from vmkit_local.files import write_atomically
from vmkit_local.sandbox.cloudinit import (
    CloudInit,
    CloudInitResult,
    cloud_init_finished,
    read_result,
    stored_user_data,
)
from vmkit_local.sandbox.containers import restart_containers, stop_all_containers
from vmkit_local.sandbox.errors import InvalidServerId, SandboxError, ServerExists, UnknownServer
from vmkit_local.sandbox.rootfs import atomic_write_json, read_json, rfc3339_now, seed_base_image
from vmkit_local.sandbox.supervisor import ServiceSupervisor

log = logging.getLogger(__name__)

_SERVER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


@dataclass(frozen=True)
class SandboxVM:
    server_id: str
    name: str
    ip: str
    labels: dict[str, str]
    power: Literal["running", "off"]
    created_at: str
    root: Path


class _Machine:
    """The live side of a powered-on VM: its systemd and its first-boot cloud-init."""

    def __init__(self, supervisor: ServiceSupervisor):
        self.supervisor = supervisor
        self.cancelled = threading.Event()
        self.cloud_init: threading.Thread | None = None


class SandboxFleet:
    def __init__(
        self,
        data_dir: Path,
        *,
        time_scale: float = 1.0,
        ip_network: str = "203.0.113.0/24",
        download_timeout: float = 30.0,
        container_stop_timeout: float = 10.0,
    ):
        self.data_dir = Path(data_dir).resolve()
        self.time_scale = time_scale
        self.download_timeout = download_timeout
        self.container_stop_timeout = container_stop_timeout
        self._network = ipaddress.ip_network(ip_network)
        self._lock = threading.RLock()
        self._machines: dict[str, _Machine] = {}
        (self.data_dir / "vms").mkdir(parents=True, exist_ok=True)

    def __enter__(self) -> SandboxFleet:
        return self

    def __exit__(self, *_: object) -> None:
        self.shutdown()

    # lifecycle --------------------------------------------------------------------------

    def boot(
        self,
        server_id: str | int,
        name: str,
        user_data: str | None,
        labels: dict[str, str] | None = None,
    ) -> str:
        """Create and power on a VM and return its public IP.

        cloud-init goes on in the background (`wait_for_cloud_init`); its failure does not
        fail the boot, as a real server is up even when its user data broke.
        """
        server_id = _check_server_id(server_id)
        with self._lock:
            if self._vm_dir(server_id).exists():
                raise ServerExists(f"sandbox VM {server_id} already exists")
            ip = self._allocate_ip()
            root = self._vm_dir(server_id) / "root"
            root.mkdir(parents=True)
            seed_base_image(root, name)
            self._write_record(
                server_id,
                {"name": name, "ip": ip, "labels": dict(labels or {}), "power": "running"},
            )
            # Outside the VM's root, as a cloud's metadata service keeps it (a rebuild reads it).
            write_atomically(self._vm_dir(server_id) / "user-data", user_data or "", mode=0o600)
            machine = self._power_on_machine(server_id, name)
            self._start_cloud_init(server_id, machine, user_data)
        log.info("sandbox VM %s (%s) booting at %s", server_id, name, ip)
        return ip

    def wait_for_cloud_init(self, server_id: str | int, timeout: float = 30.0) -> CloudInitResult:
        """`cloud-init status --wait`: block until first-boot cloud-init has finished."""
        server_id = _check_server_id(server_id)
        with self._lock:
            machine = self._machines.get(server_id)
        if machine and machine.cloud_init:
            machine.cloud_init.join(timeout)
        return read_result(self.root(server_id))

    def power_off(self, server_id: str | int) -> None:
        server_id = _check_server_id(server_id)
        with self._lock:
            self._require(server_id)
            self._stop_machine(server_id)
            self._update_record(server_id, power="off")

    def power_on(self, server_id: str | int) -> None:
        server_id = _check_server_id(server_id)
        with self._lock:
            vm = self.vm(server_id)
            if server_id not in self._machines:
                self._power_on_machine(server_id, vm.name, restore=True)
            self._update_record(server_id, power="running")

    def reboot(self, server_id: str | int) -> None:
        self.power_off(server_id)
        self.power_on(server_id)

    def rebuild(self, server_id: str | int) -> None:
        """Reinstall the image: a fresh root at the same IP, booted, and cloud-init run again
        with the user data the VM was created with (a cloud's metadata service keeps
        serving it across a rebuild)."""
        server_id = _check_server_id(server_id)
        with self._lock:
            vm = self.vm(server_id)
            user_data = self._metadata_user_data(server_id)
            self._stop_machine(server_id)
            shutil.rmtree(vm.root)
            vm.root.mkdir()
            seed_base_image(vm.root, vm.name)
            machine = self._power_on_machine(server_id, vm.name)
            self._start_cloud_init(server_id, machine, user_data)
            self._update_record(server_id, power="running")
        log.info("sandbox VM %s rebuilt", server_id)

    def destroy(self, server_id: str | int) -> None:
        """Stop every process of the VM and delete it; its IP goes back to the pool."""
        server_id = _check_server_id(server_id)
        with self._lock:
            self._require(server_id)
            self._stop_machine(server_id)
            shutil.rmtree(self._vm_dir(server_id))
        log.info("sandbox VM %s destroyed", server_id)

    def shutdown(self) -> None:
        """The host is going away: stop every process, keep each VM's recorded power state."""
        with self._lock:
            for server_id in list(self._machines):
                self._stop_machine(server_id)

    def resume(self) -> None:
        """After a restart of the local stack: boot the VMs that were running."""
        with self._lock:
            for vm in self.list():
                if vm.power == "running" and vm.server_id not in self._machines:
                    self._power_on_machine(vm.server_id, vm.name, restore=True)

    # lookups ----------------------------------------------------------------------------

    def vm(self, server_id: str | int) -> SandboxVM:
        server_id = _check_server_id(server_id)
        record = read_json(self._vm_dir(server_id) / "vm.json")
        if record is None:
            raise UnknownServer(f"sandbox VM {server_id} does not exist")
        return SandboxVM(
            server_id=server_id,
            name=record["name"],
            ip=record["ip"],
            labels=record["labels"],
            power=record["power"],
            created_at=record["created_at"],
            root=self._vm_dir(server_id) / "root",
        )

    def list(self) -> list[SandboxVM]:
        directory = self.data_dir / "vms"
        ids = sorted(path.parent.name for path in directory.glob("*/vm.json"))
        return [self.vm(server_id) for server_id in ids]

    def root(self, server_id: str | int) -> Path:
        return self.vm(server_id).root

    def root_for_ip(self, ip: str) -> Path | None:
        """The root of the powered-on VM at `ip`; None when no running VM has it."""
        for vm in self.list():
            if vm.ip == ip and vm.power == "running":
                return vm.root
        return None

    def supervisor(self, server_id: str | int) -> ServiceSupervisor:
        """The VM's systemd stand-in (to wait for a unit to start, read its main pid)."""
        server_id = _check_server_id(server_id)
        with self._lock:
            machine = self._machines.get(server_id)
        if machine is None:
            raise SandboxError(f"sandbox VM {server_id} is not running")
        return machine.supervisor

    # internals --------------------------------------------------------------------------

    def _power_on_machine(self, server_id: str, name: str, *, restore: bool = False) -> _Machine:
        """Start the VM's systemd; on a later boot (`restore`) also what it had enabled."""
        root = self._vm_dir(server_id) / "root"
        machine = _Machine(ServiceSupervisor(root, name, time_scale=self.time_scale))
        self._machines[server_id] = machine
        if restore:
            for failure in machine.supervisor.start_enabled():
                log.warning("sandbox VM %s: %s", server_id, failure)
            restart_containers(root)
            if not cloud_init_finished(root):
                self._start_cloud_init(server_id, machine, stored_user_data(root))
        return machine

    def _start_cloud_init(self, server_id: str, machine: _Machine, user_data: str | None) -> None:
        cloud_init = CloudInit(
            self._vm_dir(server_id) / "root",
            machine.supervisor,
            instance_id=server_id,
            cancelled=machine.cancelled,
            time_scale=self.time_scale,
            download_timeout=self.download_timeout,
        )
        machine.cloud_init = threading.Thread(
            target=cloud_init.run, args=(user_data,), name=f"cloud-init-{server_id}", daemon=True
        )
        machine.cloud_init.start()

    def _stop_machine(self, server_id: str) -> None:
        machine = self._machines.pop(server_id, None)
        if machine is None:
            return
        machine.cancelled.set()
        if machine.cloud_init:
            machine.cloud_init.join()
        machine.supervisor.stop_all()
        stop_all_containers(self._vm_dir(server_id) / "root", self.container_stop_timeout)

    def _allocate_ip(self) -> str:
        in_use = {vm.ip for vm in self.list()}
        state_file = self.data_dir / "fleet.json"
        state = read_json(state_file, {})
        hosts = list(self._network.hosts())
        start = state.get("next_ip_index", 0)
        for offset in range(len(hosts)):
            index = (start + offset) % len(hosts)
            candidate = str(hosts[index])
            if candidate not in in_use:
                atomic_write_json(state_file, {**state, "next_ip_index": index + 1})
                return candidate
        raise SandboxError(f"no free address left in {self._network} for another sandbox VM")

    def _metadata_user_data(self, server_id: str) -> str | None:
        path = self._vm_dir(server_id) / "user-data"
        return path.read_text() if path.exists() else None

    def _vm_dir(self, server_id: str) -> Path:
        return self.data_dir / "vms" / server_id

    def _require(self, server_id: str) -> None:
        if not (self._vm_dir(server_id) / "vm.json").exists():
            raise UnknownServer(f"sandbox VM {server_id} does not exist")

    def _write_record(self, server_id: str, record: dict[str, Any]) -> None:
        record.setdefault("created_at", rfc3339_now())
        atomic_write_json(self._vm_dir(server_id) / "vm.json", record)

    def _update_record(self, server_id: str, **changes: Any) -> None:
        path = self._vm_dir(server_id) / "vm.json"
        atomic_write_json(path, {**read_json(path), **changes})


def _check_server_id(server_id: str | int) -> str:
    text = str(server_id)
    if not _SERVER_ID.fullmatch(text):
        raise InvalidServerId(f"invalid sandbox server id {text!r}")
    return text
