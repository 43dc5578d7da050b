"""Launching one guest under qemu, and talking to it over QMP.

qemu boots the image's kernel and initrd directly (`-kernel`, no bootloader), with
the guest's qcow2 disk and its NoCloud seed as virtio drives, the restricted user
network of `network.py`, the serial console written to a file (cloud-init's output
lands there), and a QMP socket for power: `system_powerdown` (ACPI, the guest shuts
down cleanly) and `send-key ctrl-alt-delete` (the guest reboots itself, as Hetzner's
soft reboot does). qemu runs in its own session so a Ctrl-C at the terminal reaches
the stack, which then powers its guests off in order, and not qemu directly.

Acceleration: KVM when a quick probe boots a kernel with it, else TCG (software
emulation, `-accel tcg,thread=multi -cpu max`). Machines that are themselves VMs may
have a /dev/kvm that fails with "KVM internal error"; the probe catches that.
The probe's answer is kept in the image cache (per qemu build); `VMKIT_QEMU_ACCEL=tcg|kvm`
skips it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vmkit_local.vm.errors import GuestError
from vmkit_local.vm.image import Image, require_tools
from vmkit_local.vm.network import Forwards

log = logging.getLogger(__name__)

QEMU = "qemu-system-x86_64"
QEMU_TOOLS = {
    QEMU: "qemu-system-x86",
    "qemu-img": "qemu-utils",
    "cloud-localds": "cloud-image-utils",
}
ACCEL_ARGS = {
    "kvm": ["-accel", "kvm", "-cpu", "host"],
    "tcg": ["-accel", "tcg,thread=multi", "-cpu", "max"],
}
_PROBE_SECONDS = 10.0  # a KVM kernel panics well within a second
_accel: str | None = None


@dataclass(frozen=True)
class GuestFiles:
    """Everything of one guest on the host, in its directory."""

    directory: Path

    @property
    def disk(self) -> Path:
        return self.directory / "disk.qcow2"

    @property
    def seed(self) -> Path:
        return self.directory / "seed.img"

    @property
    def console(self) -> Path:
        return self.directory / "console.log"

    @property
    def pid_file(self) -> Path:
        return self.directory / "qemu.pid"

    @property
    def qmp(self) -> Path:
        return self.directory / "qmp.sock"


def accelerator(image: Image) -> str:
    """`kvm` if a probe boots with it, else `tcg`; decided once per process."""
    global _accel
    if _accel is None:
        chosen = os.environ.get("VMKIT_QEMU_ACCEL")
        _accel = chosen if chosen in ACCEL_ARGS else _remembered_probe(image)
        log.info("qemu guests run with %s", _accel)
    return _accel


def _remembered_probe(image: Image) -> str:
    qemu = Path(shutil.which(QEMU) or QEMU)
    stat = qemu.stat()
    build = f"{stat.st_size}-{int(stat.st_mtime)}-{os.access('/dev/kvm', os.W_OK)}"
    record = image.directory.parent / "accel.json"
    try:
        known = json.loads(record.read_text())
        if known.get("qemu") == build:
            return known["accel"]
    except (OSError, ValueError, KeyError):
        pass
    accel = _probe_kvm(image)
    record.write_text(json.dumps({"qemu": build, "accel": accel}))
    return accel


def _probe_kvm(image: Image) -> str:
    """Boot the kernel with no root disk under KVM: it panics at once (`panic=-1` with
    `-no-reboot` then ends qemu). Anything else in time, "KVM internal error" included,
    means KVM does not work here."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    argv = [
        QEMU,
        *ACCEL_ARGS["kvm"],
        "-m",
        "256",
        "-display",
        "none",
        "-serial",
        "stdio",
        "-no-reboot",
        "-kernel",
        str(image.kernel),
        "-append",
        "console=ttyS0 panic=-1",
    ]
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=_PROBE_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        return "tcg"
    return "kvm" if "Kernel panic" in done.stdout else "tcg"


def make_disk(image: Image, files: GuestFiles, size: str = "10G") -> None:
    """A copy-on-write overlay on the cached image, bigger than it (cloud-init grows the
    filesystem at first boot, as on a cloud server)."""
    require_tools(QEMU_TOOLS)
    _checked(
        [
            "qemu-img",
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            str(image.disk),
            "-F",
            "raw",
            str(files.disk),
            size,
        ]
    )


def make_seed(files: GuestFiles, user_data: str, meta_data: dict[str, Any]) -> None:
    """The NoCloud seed: a `cidata` volume with user-data and meta-data, as cloud-localds
    makes it. The user data goes in byte for byte."""
    require_tools(QEMU_TOOLS)
    user_path = files.directory / "user-data"
    meta_path = files.directory / "meta-data"
    user_path.write_text(user_data)
    user_path.chmod(0o600)  # it holds the agent token
    meta_path.write_text(json.dumps(meta_data))
    try:
        _checked(["cloud-localds", str(files.seed), str(user_path), str(meta_path)])
    finally:
        user_path.unlink()
    files.seed.chmod(0o600)


def launch(
    image: Image, files: GuestFiles, forwards: Forwards, *, memory_mb: int, cpus: int
) -> subprocess.Popen:
    require_tools(QEMU_TOOLS)
    kernel_args = " ".join([*image.kernel_args, forwards.kernel_argument()])
    argv = [
        QEMU,
        *ACCEL_ARGS[accelerator(image)],
        "-m",
        str(memory_mb),
        "-smp",
        str(cpus),
        "-display",
        "none",
        "-vga",
        "none",
        "-serial",
        f"file:{files.console}",
        "-monitor",
        "none",
        "-qmp",
        f"unix:{files.qmp},server=on,wait=off",
        "-pidfile",
        str(files.pid_file),
        "-kernel",
        str(image.kernel),
        "-initrd",
        str(image.initrd),
        "-append",
        kernel_args,
        "-drive",
        f"file={files.disk},format=qcow2,if=virtio",
        "-drive",
        f"file={files.seed},format=raw,if=virtio,readonly=on",
        "-netdev",
        forwards.netdev(),
        "-device",
        "virtio-net-pci,netdev=n0,romfile=",
        "-device",
        "virtio-rng-pci",
    ]
    files.qmp.unlink(missing_ok=True)
    stderr = open(files.directory / "qemu.log", "ab")  # noqa: SIM115 (qemu keeps it open)
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=stderr,
            stderr=stderr,
            cwd=files.directory,
            start_new_session=True,
        )
    finally:
        stderr.close()
    _wait_for(lambda: files.qmp.exists() or process.poll() is not None, 30, "qemu to start")
    if process.poll() is not None:
        tail = (files.directory / "qemu.log").read_text(errors="replace").strip()[-1000:]
        raise GuestError(f"qemu exited at start (status {process.returncode}): {tail}")
    return process


class Qmp:
    """QEMU Machine Protocol over the guest's unix socket: one command per connection."""

    def __init__(self, path: Path, timeout: float = 10.0):
        self.path = path
        self.timeout = timeout

    def execute(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout)
            sock.connect(_short_path(self.path))
            stream = sock.makefile("rwb")
            json.loads(stream.readline())  # the greeting
            for name, args in (("qmp_capabilities", None), (command, arguments)):
                message: dict[str, Any] = {"execute": name}
                if args:
                    message["arguments"] = args
                stream.write(json.dumps(message).encode() + b"\n")
                stream.flush()
                reply = self._reply(stream)
            return reply

    def _reply(self, stream: Any) -> Any:
        while True:
            line = stream.readline()
            if not line:
                raise GuestError("qemu closed its QMP socket")
            message = json.loads(line)
            if "error" in message:
                raise GuestError(f"QMP: {message['error'].get('desc')}")
            if "return" in message:
                return message["return"]


def _short_path(path: Path) -> str:
    """A unix socket path must fit 108 bytes; long data dirs are reached relative."""
    text = str(path)
    if len(text.encode()) < 100:
        return text
    return os.path.relpath(text)


def process_alive(pid: int, disk: Path) -> bool:
    """Whether `pid` is still this guest's qemu (not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return QEMU.encode() in cmdline and str(disk).encode() in cmdline


def terminate(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _checked(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise GuestError(f"{argv[0]} failed: {(done.stderr or done.stdout).strip()[-500:]}")


def _wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise GuestError(f"timed out waiting for {what}")
        time.sleep(0.05)
