"""A directory that acts as a VM's `/`.

Everything the sandbox does to a VM goes through `resolve_in_root`, which gives chroot
semantics on the host: an absolute path or an absolute symlink target is taken relative
to the root, and a `..` that would climb above the root is refused instead of being
clamped, so a bad path in user data fails loudly rather than landing somewhere
surprising. The host's own files are never touched.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from vmkit_local.files import write_atomically
from vmkit_local.sandbox.errors import PathEscapeError

# Linux's own limit on symlinks followed while resolving one path (MAXSYMLINKS).
_MAX_SYMLINKS = 40

# What a fresh Debian cloud image has before cloud-init runs: enough for the agent's
# user and SSH management and for the cloud-init subset to find its directories.
_BASE_DIRS = (
    "etc/ssh",
    "etc/systemd/system",
    "home",
    "root",
    "run",
    "tmp",
    "usr/bin",
    "usr/local/bin",
    "var/lib/cloud",
    "var/log/journal",
)
_BASE_FILES = {
    "etc/passwd": (
        "root:x:0:0:root:/root:/bin/bash\n"
        "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    ),
    "etc/group": "root:x:0:\ndaemon:x:1:\nsudo:x:27:\nnogroup:x:65534:\n",
    "etc/os-release": (
        'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
        'VERSION_ID="12"\nID=debian\n'
    ),
    "etc/ssh/sshd_config": (
        "Include /etc/ssh/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\n"
        "UsePAM yes\nX11Forwarding yes\nPrintMotd no\nAcceptEnv LANG LC_*\n"
        "Subsystem sftp /usr/lib/openssh/sftp-server\n"
    ),
}


def resolve_in_root(root: Path, path: str | PurePosixPath) -> Path:
    """The host path for `path` as seen from inside the VM whose `/` is `root`.

    Relative paths are taken from the VM's `/` (cloud-init and systemd only use absolute
    ones). Symlinks that exist are followed inside the root; the last component need
    not exist, so the result can be used to create a file.
    """
    root = Path(root).resolve()
    pending = [part for part in PurePosixPath(path).parts if part not in ("/", "")]
    resolved: list[str] = []
    symlinks = 0
    while pending:
        part = pending.pop(0)
        if part == ".":
            continue
        if part == "..":
            if not resolved:
                raise PathEscapeError(f"path {str(path)!r} climbs above the VM's root directory")
            resolved.pop()
            continue
        candidate = root.joinpath(*resolved, part)
        if candidate.is_symlink():
            symlinks += 1
            if symlinks > _MAX_SYMLINKS:
                raise PathEscapeError(f"path {str(path)!r}: too many levels of symbolic links")
            target = PurePosixPath(os.readlink(candidate))
            if target.is_absolute():
                resolved = []
            pending = [p for p in target.parts if p not in ("/", "")] + pending
            continue
        resolved.append(part)
    return root.joinpath(*resolved)


def vm_path(root: Path, host_path: Path) -> str:
    """The path inside the VM of a host path under `root` (for messages and logs)."""
    return "/" + Path(host_path).resolve().relative_to(Path(root).resolve()).as_posix()


def seed_base_image(root: Path, hostname: str) -> None:
    """Lay down the few files of a fresh cloud image that later steps rely on."""
    for directory in _BASE_DIRS:
        (root / directory).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    for relative, content in _BASE_FILES.items():
        (root / relative).write_text(content)
    (root / "etc/hostname").write_text(hostname + "\n")
    (root / "etc/hosts").write_text(f"127.0.0.1 localhost\n127.0.1.1 {hostname}\n")


def add_system_group(root: Path, group: str) -> bool:
    """Add `group` to the VM's /etc/group as a package's postinst would; False if present."""
    group_file = root / "etc/group"
    lines = group_file.read_text().splitlines()
    if any(line.split(":", 1)[0] == group for line in lines):
        return False
    used = {int(fields[2]) for fields in (line.split(":") for line in lines) if len(fields) > 2}
    gid = next(g for g in range(999, 100, -1) if g not in used)
    write_atomically(group_file, "\n".join([*lines, f"{group}:x:{gid}:"]) + "\n", mode=0o644)
    return True


def passwd_entry(root: Path, user: str) -> dict[str, str] | None:
    """The VM's /etc/passwd entry for `user`, or None when there is no such user."""
    for line in _read_lines(root, "/etc/passwd"):
        fields = line.split(":")
        if len(fields) == 7 and fields[0] == user:
            return {"name": fields[0], "uid": fields[2], "gid": fields[3], "home": fields[5]}
    return None


def group_members(root: Path, group: str) -> set[str] | None:
    """Members of `group` in the VM's /etc/group, or None when the group does not exist."""
    for line in _read_lines(root, "/etc/group"):
        fields = line.split(":")
        if len(fields) == 4 and fields[0] == group:
            return {member for member in fields[3].split(",") if member}
    return None


def _read_lines(root: Path, path: str) -> list[str]:
    file = resolve_in_root(root, path)
    return file.read_text().splitlines() if file.is_file() else []


def atomic_write_json(path: Path, value: Any, mode: int = 0o644) -> None:
    write_atomically(path, json.dumps(value, indent=2, sort_keys=True) + "\n", mode=mode)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock beside `path` for a read-modify-write across processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def update_json(path: Path, changes: dict[str, Any], mode: int = 0o644) -> dict[str, Any]:
    """Merge `changes` into the JSON object at `path` atomically; return the new object."""
    with locked(path):
        value = {**read_json(path, {}), **changes}
        atomic_write_json(path, value, mode)
    return value


def read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default


def rfc3339_now() -> str:
    """UTC timestamp as docker's json-file driver and the Actions log write them."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
