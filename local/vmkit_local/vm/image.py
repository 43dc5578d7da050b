"""The guest's Debian image: a recipe, built once and cached by the recipe's hash.

What a cloud's stock image gives a new server, made from Debian's packages with
mmdebstrap: systemd, cloud-init, openssh-server, nftables, docker.io and python3,
plus the few files a cloud image carries for its platform (here: the NoCloud
datasource only, DHCP on the one NIC, and the loopback forwarder of `network.py`).
The image has no APT sources: the guest cannot reach a mirror, so cloud-init's
`package_update` has nothing to fetch and `packages:` finds them installed.

`ensure_image()` returns the cached build for the recipe, building it first when none
exists under `${XDG_CACHE_HOME:-~/.cache}/vmkit/images/<hash>/`: a raw ext4 disk made
with `mkfs.ext4 -d` (nothing is mounted), and the kernel and initrd from its `/boot`,
which qemu boots directly. Each guest gets a qcow2 overlay on that disk, so the base
is never written. A change to the recipe (a package, a file, the builder) is a new
hash and so a new build; old builds stay until removed.

`python -m vmkit_local.vm.image` builds (or finds) the image and says how long it took.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vmkit_local.vm.errors import ImageBuildFailed, ToolMissing
from vmkit_local.vm.network import LOOPBACK_GENERATOR

log = logging.getLogger(__name__)

BUILDER_VERSION = 1  # bump when the build steps below change what they produce
PACKAGES = (
    "systemd-sysv",
    "linux-image-cloud-amd64",
    "cloud-init",
    "openssh-server",
    "python3",
    "nftables",
    "docker.io",
    "curl",
    "ca-certificates",
    "sudo",
    "iproute2",
    "ifupdown",
    "isc-dhcp-client",
    "busybox-static",
    "dbus",  # as on a cloud image: systemctl for non-root users, hostnamectl, …
    "e2fsprogs",  # resize2fs: cloud-init grows the root filesystem to the disk
)
GUEST_NIC = "eth0"  # with net.ifnames=0 on the kernel command line
CLOUD_CONFIG = """\
# Written by VMKit's image builder: what a cloud's image configures for its platform.
datasource_list: [NoCloud, None]
network: {config: disabled}
# The cloud console's SSH keys go to root, as on Hetzner's images (harden turns root
# login off).
disable_root: false
locale: C.UTF-8
# RSA host keys take long to make under software emulation.
ssh_genkeytypes: [ed25519, ecdsa]
"""
INTERFACES = f"""\
auto lo
iface lo inet loopback

auto {GUEST_NIC}
iface {GUEST_NIC} inet dhcp
"""
FILES = (
    ("/etc/cloud/cloud.cfg.d/90-vmkit.cfg", CLOUD_CONFIG, 0o644),
    ("/etc/network/interfaces", INTERFACES, 0o644),
    ("/etc/fstab", "/dev/vda / ext4 rw,errors=remount-ro 0 1\n", 0o644),
    ("/etc/hostname", "localhost\n", 0o644),
    ("/etc/apt/sources.list", "", 0o644),
    ("/etc/systemd/system-generators/vmkit-loopback-forward", LOOPBACK_GENERATOR, 0o755),
)
# Made at build time, they would be shared by every guest: cloud-init makes new ones.
REMOVE = ("etc/ssh/ssh_host_*", "etc/machine-id", "var/lib/dbus/machine-id")
KERNEL_ARGS = ("root=/dev/vda", "rw", "console=ttyS0", "net.ifnames=0", "apparmor=0")
DEBIAN_TOOLS = {"mmdebstrap": "mmdebstrap", "mkfs.ext4": "e2fsprogs"}


@dataclass(frozen=True)
class ImageRecipe:
    suite: str = "bookworm"
    packages: tuple[str, ...] = PACKAGES
    files: tuple[tuple[str, str, int], ...] = FILES
    remove: tuple[str, ...] = REMOVE
    disk_size: str = "3G"
    builder_version: int = BUILDER_VERSION

    def digest(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Image:
    directory: Path
    digest: str
    kernel_args: tuple[str, ...] = field(default=KERNEL_ARGS)
    build_seconds: float | None = None  # None: found in the cache

    @property
    def disk(self) -> Path:
        return self.directory / "disk.img"

    @property
    def kernel(self) -> Path:
        return self.directory / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.directory / "initrd.img"


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vmkit" / "images"


def require_tools(tools: dict[str, str]) -> None:
    missing = {tool: package for tool, package in tools.items() if not shutil.which(tool)}
    if missing:
        raise ToolMissing(
            f"the real-VM target needs {', '.join(missing)}: "
            f"apt-get install {' '.join(sorted(set(missing.values())))}"
        )


def ensure_image(recipe: ImageRecipe | None = None, root: Path | None = None) -> Image:
    """The built image for `recipe`, from the cache or built now (one builder at a time)."""
    recipe = recipe or ImageRecipe()
    root = root or cache_root()
    digest = recipe.digest()
    directory = root / digest
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (directory / "image.json").exists():
            return Image(directory, digest)
        started = time.monotonic()
        _build(recipe, directory)
        seconds = time.monotonic() - started
        log.info("built the guest image %s in %.0f s", digest, seconds)
        return Image(directory, digest, build_seconds=seconds)


def _build(recipe: ImageRecipe, directory: Path) -> None:
    require_tools(DEBIAN_TOOLS)
    with tempfile.TemporaryDirectory(prefix=".build-", dir=directory.parent) as scratch:
        work = Path(scratch)
        rootfs = work / "rootfs"
        _run(
            [
                "mmdebstrap",
                "--variant=apt",
                "--quiet",
                f"--include={','.join(recipe.packages)}",
                recipe.suite,
                str(rootfs),
            ],
            "mmdebstrap",
        )
        for pattern in recipe.remove:
            for path in rootfs.glob(pattern):
                path.unlink()
        for absolute, content, mode in recipe.files:
            target = rootfs / absolute.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
            target.chmod(mode)
        (rootfs / "etc/machine-id").write_text("")  # empty: systemd makes one at first boot
        out = work / "image"
        out.mkdir()
        for name, pattern in (("vmlinuz", "vmlinuz-*"), ("initrd.img", "initrd.img-*")):
            found = sorted((rootfs / "boot").glob(pattern))
            if not found:
                raise ImageBuildFailed(f"the image has no /boot/{pattern}: is a kernel installed?")
            shutil.copy2(found[-1], out / name)
        _run(
            [
                "mkfs.ext4",
                "-q",
                "-F",
                "-L",
                "vmkit-root",
                "-d",
                str(rootfs),
                str(out / "disk.img"),
                recipe.disk_size,
            ],
            "mkfs.ext4",
        )
        (out / "image.json").write_text(
            json.dumps({"recipe": asdict(recipe), "kernel_args": KERNEL_ARGS}, indent=1)
        )
        out.rename(directory)


def _run(argv: list[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip()[-2000:]
        raise ImageBuildFailed(f"{what} failed (exit {done.returncode}): {tail}")


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.monotonic()
    image = ensure_image()
    how = "built" if image.build_seconds is not None else "found in the cache"
    print(f"guest image {image.digest} {how} in {time.monotonic() - started:.1f} s: {image.disk}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
