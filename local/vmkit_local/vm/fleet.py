"""The fleet of qemu guests: what the Hetzner simulator creates and deletes in `vm` mode.

A guest is `<data_dir>/guests/<server_id>/`: `guest.json` (name, public IP, labels,
power state, ports), its qcow2 disk over the cached image, its NoCloud seed (the user
data exactly as the control plane sent it; mode 0600, it holds the agent token) and
its serial console log, where cloud-init's output is. Lifecycle as on a cloud:
- `boot` makes the disk and the seed and starts qemu, and returns while the guest is
  still booting (the create request answers with the IP at once);
- `reboot` asks the guest to reboot itself (ctrl-alt-delete: systemd's reboot);
- `destroy` powers the guest off (ACPI, then the plug) and deletes its disk;
- `shutdown` (the stack stops) powers every guest off and keeps the records, and
  `resume` (the stack starts again) boots the guests that were running from their
  disks, re-adopting a qemu still alive from a stack that died only if its ports
  still lead to the stack, else stopping it first.

Ports: the guest dials the stack at the loopback URLs its user data names; the ports
it was given at first boot are kept (`exposed`) and mapped to wherever the stack now
listens, so a guest's agent finds the gateway after the stack restarts on new ports.

Public IPs come from TEST-NET-2 (198.51.100.0/24, RFC 5737) by server id, apart
from the sandbox's TEST-NET-3: nothing routes there, the local DNS and the app
router map them to the guest's forwarded ports.
"""

from __future__ import annotations

import ipaddress
import logging
import shutil
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vmkit.errors import Conflict
from vmkit.sshkeys import generate_deploy_key
from vmkit_local.sandbox.rootfs import atomic_write_json, read_json, rfc3339_now
from vmkit_local.vm import qemu
from vmkit_local.vm.errors import GuestError, UnknownGuest
from vmkit_local.vm.image import Image, ImageRecipe, ensure_image
from vmkit_local.vm.network import Forwards, free_loopback_port

log = logging.getLogger(__name__)

POWERDOWN_SECONDS = 60.0  # an ACPI shutdown under software emulation takes a while
DESTROY_GRACE_SECONDS = 10.0  # deleting a server is not a shutdown: a short grace
OPERATOR_KEY = "operator_ed25519"


@dataclass(frozen=True)
class Guest:
    server_id: str
    name: str
    ip: str
    labels: dict[str, str]
    power: Literal["running", "off"]
    created_at: str
    forwards: Forwards | None  # of the current launch; None when off
    directory: Path

    @property
    def console_log(self) -> Path:
        return qemu.GuestFiles(self.directory).console


class GuestFleet:
    def __init__(
        self,
        data_dir: Path,
        *,
        recipe: ImageRecipe | None = None,
        image_cache: Path | None = None,
        memory_mb: int = 1024,
        cpus: int = 2,
        ip_network: str = "198.51.100.0/24",
    ):
        self.data_dir = Path(data_dir).resolve()
        self.recipe = recipe or ImageRecipe()
        self.image_cache = image_cache
        self.memory_mb = memory_mb
        self.cpus = cpus
        self._network = ipaddress.ip_network(ip_network)
        self._lock = threading.RLock()
        self._processes: dict[str, subprocess.Popen | int] = {}
        self._stack_ports: dict[str, int] = {}
        self._image: Image | None = None
        (self.data_dir / "guests").mkdir(parents=True, exist_ok=True)

    # set-up -------------------------------------------------------------------------------

    def image(self) -> Image:
        """The guest image, built on first use (about a minute) and cached after."""
        if self._image is None:
            self._image = ensure_image(self.recipe, self.image_cache)
        return self._image

    def expose(self, ports: Mapping[str, int]) -> None:
        """The stack's ports a guest may reach, by role (`aws`: downloads, `ws`: agents)."""
        self._stack_ports = dict(ports)

    @property
    def operator_key(self) -> tuple[Path, str]:
        """The stack operator's SSH key (private key file, public line): cloud-init puts
        it in root's authorized_keys, as Hetzner does with a server's console keys."""
        path = self.data_dir / OPERATOR_KEY
        public = path.with_suffix(".pub")
        if not path.exists():
            pair = generate_deploy_key("vmkit-local-operator")
            path.write_text(pair.private_openssh)
            path.chmod(0o600)
            public.write_text(pair.public_openssh + "\n")
        return path, public.read_text().strip()

    # lifecycle ----------------------------------------------------------------------------

    def boot(
        self,
        server_id: str | int,
        name: str,
        user_data: str | None,
        labels: dict[str, str] | None = None,
    ) -> str:
        """Create the guest and start it; return its public IP while it boots."""
        server_id = str(server_id)
        if not self._stack_ports:
            raise GuestError("the local stack has not said which of its ports guests may reach")
        with self._lock:
            directory = self._dir(server_id)
            if directory.exists():
                raise Conflict(f"guest {server_id} already exists")
            image = self.image()
            directory.mkdir(parents=True)
            files = qemu.GuestFiles(directory)
            try:
                qemu.make_disk(image, files)
                meta = {
                    "instance-id": server_id,
                    "local-hostname": name,
                    "public-keys": [self.operator_key[1]],
                }
                qemu.make_seed(files, user_data or "", meta)
                ip = str(
                    list(self._network.hosts())[int(server_id) % (self._network.num_addresses - 2)]
                )
                record = {
                    "name": name,
                    "ip": ip,
                    "labels": dict(labels or {}),
                    "power": "running",
                    "created_at": rfc3339_now(),
                    "exposed": {role: port for role, port in self._stack_ports.items()},
                }
                atomic_write_json(directory / "guest.json", record)
                self._launch(server_id)
            except BaseException:
                self._stop(server_id, grace=0)
                shutil.rmtree(directory, ignore_errors=True)
                raise
        log.info("guest %s (%s) booting at %s", server_id, name, ip)
        return ip

    def reboot(self, server_id: str | int) -> None:
        """The guest reboots itself, as on ctrl-alt-delete (qemu stays the same process)."""
        server_id = str(server_id)
        with self._lock:
            self._require_running(server_id)
            qemu.Qmp(qemu.GuestFiles(self._dir(server_id)).qmp).execute(
                "send-key",
                {"keys": [{"type": "qcode", "data": k} for k in ("ctrl", "alt", "delete")]},
            )

    def destroy(self, server_id: str | int) -> None:
        server_id = str(server_id)
        with self._lock:
            if not (self._dir(server_id) / "guest.json").exists():
                raise UnknownGuest(f"guest {server_id} does not exist")
            self._stop(server_id, grace=DESTROY_GRACE_SECONDS)
            shutil.rmtree(self._dir(server_id))
        log.info("guest %s powered off and deleted", server_id)

    def shutdown(self) -> None:
        """The stack is stopping: power every guest off, all at once; records stay."""
        with self._lock:
            running = list(self._processes)
            for server_id in running:
                self._powerdown(server_id)
            deadline = time.monotonic() + POWERDOWN_SECONDS
            for server_id in running:
                remaining = max(0.0, deadline - time.monotonic())
                self._stop(server_id, grace=remaining, press=False)

    def resume(self) -> None:
        """The stack (re)started: bring back the guests that were running."""
        with self._lock:
            for guest in self.list():
                if guest.power != "running" or guest.server_id in self._processes:
                    continue
                pid = _pid(self._dir(guest.server_id))
                files = qemu.GuestFiles(guest.directory)
                if pid and qemu.process_alive(pid, files.disk):
                    if guest.forwards and dict(guest.forwards.loopback) == self._loopback(
                        guest.server_id
                    ):
                        self._processes[guest.server_id] = pid
                        log.info(
                            "guest %s re-adopted (qemu %s still running)", guest.server_id, pid
                        )
                        continue
                    log.info(
                        "guest %s: its qemu leads to old ports; restarting it", guest.server_id
                    )
                    qemu.terminate(pid)
                self._launch(guest.server_id)

    # lookups ------------------------------------------------------------------------------

    def guest(self, server_id: str | int) -> Guest:
        server_id = str(server_id)
        record = read_json(self._dir(server_id) / "guest.json")
        if record is None:
            raise UnknownGuest(f"guest {server_id} does not exist")
        forwards = record.get("forwards")
        return Guest(
            server_id=server_id,
            name=record["name"],
            ip=record["ip"],
            labels=record["labels"],
            power=record["power"],
            created_at=record["created_at"],
            forwards=Forwards.from_json(forwards) if forwards else None,
            directory=self._dir(server_id),
        )

    def list(self) -> list[Guest]:
        directory = self.data_dir / "guests"
        return [self.guest(p.parent.name) for p in sorted(directory.glob("*/guest.json"))]

    def for_ip(self, ip: str) -> Guest | None:
        """The running guest at public IP `ip`, if any."""
        for guest in self.list():
            if guest.ip == ip and guest.power == "running" and guest.forwards:
                return guest
        return None

    def owns(self, server_id: str | int) -> bool:
        return (self._dir(str(server_id)) / "guest.json").exists()

    # internals ----------------------------------------------------------------------------

    def _loopback(self, server_id: str) -> dict[int, int]:
        exposed = read_json(self._dir(server_id) / "guest.json")["exposed"]
        missing = set(exposed) - set(self._stack_ports)
        if missing:
            raise GuestError(f"the stack no longer has the ports guests dial: {sorted(missing)}")
        return {guest_port: self._stack_ports[role] for role, guest_port in exposed.items()}

    def _launch(self, server_id: str) -> None:
        directory = self._dir(server_id)
        forwards = Forwards(self._loopback(server_id), free_loopback_port(), free_loopback_port())
        path = directory / "guest.json"
        atomic_write_json(path, {**read_json(path), "forwards": forwards.to_json()})
        self._processes[server_id] = qemu.launch(
            self.image(),
            qemu.GuestFiles(directory),
            forwards,
            memory_mb=self.memory_mb,
            cpus=self.cpus,
        )

    def _powerdown(self, server_id: str) -> None:
        try:
            qemu.Qmp(qemu.GuestFiles(self._dir(server_id)).qmp).execute("system_powerdown")
        except (OSError, GuestError) as error:
            log.warning("guest %s did not take the ACPI power button: %s", server_id, error)

    def _stop(self, server_id: str, *, grace: float, press: bool = True) -> None:
        """Power the guest off: ACPI first (unless already `press`ed), the plug after
        `grace` seconds."""
        process = self._processes.pop(server_id, None)
        if process is None:
            return
        if grace > 0 and press:
            self._powerdown(server_id)
        deadline = time.monotonic() + grace
        pid = process.pid if isinstance(process, subprocess.Popen) else process
        disk = qemu.GuestFiles(self._dir(server_id)).disk
        while qemu.process_alive(pid, disk) and time.monotonic() < deadline:
            if isinstance(process, subprocess.Popen) and process.poll() is not None:
                break
            time.sleep(0.2)
        qemu.terminate(pid)
        if isinstance(process, subprocess.Popen):
            process.wait()

    def _require_running(self, server_id: str) -> None:
        if server_id not in self._processes:
            raise GuestError(f"guest {server_id} is not running")

    def _dir(self, server_id: str) -> Path:
        if not server_id.isdigit():
            raise UnknownGuest(f"no guest has the id {server_id!r}")
        return self.data_dir / "guests" / server_id


def _pid(directory: Path) -> int | None:
    try:
        return int((directory / "qemu.pid").read_text().strip())
    except (OSError, ValueError):
        return None
