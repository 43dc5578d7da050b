"""What SSH decides when the Actions runner connects as the deploy user.

The deploy reaches a VM only if sshd would let it in: the user exists in the VM's
/etc/passwd and one of the offered private keys has its public half in that user's
`~/.ssh/authorized_keys`, with the modes sshd's StrictModes accepts. Anything else is
the one line an SSH client prints: "Permission denied (publickey)". Kamal then runs
docker as that user, which needs membership of the `docker` group (or root).
"""

from __future__ import annotations

import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from vmkit_local.sandbox.errors import SandboxError
from vmkit_local.sandbox.rootfs import group_members, passwd_entry, resolve_in_root


class SshDenied(SandboxError):
    """sshd refused the login: unknown user, no authorized key offered, or StrictModes."""


def public_key_of(private_key: str) -> str | None:
    """`ssh-keygen -y`: the OpenSSH public line of a private key, None if unreadable."""
    data = private_key.strip().encode() + b"\n"
    try:
        key = serialization.load_ssh_private_key(data, password=None)
    except ValueError:
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            return None
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return public.decode()


def check_ssh_login(root: Path, user: str, private_keys: list[str]) -> None:
    """Raise SshDenied unless one of `private_keys` may log in as `user` on the VM."""
    denied = SshDenied(f"{user}@vm: Permission denied (publickey).")
    entry = passwd_entry(root, user)
    if entry is None:
        raise denied
    home = resolve_in_root(root, entry["home"])
    authorized_keys = resolve_in_root(root, f"{entry['home']}/.ssh/authorized_keys")
    if not authorized_keys.is_file() or not _strict_modes_ok(home, authorized_keys):
        raise denied
    allowed = _authorized_keys(authorized_keys.read_text())
    offered = {_key_blob(k) for k in map(public_key_of, private_keys) if k}
    if not offered & allowed:
        raise denied


def check_docker_access(root: Path, user: str) -> None:
    """Kamal's first docker command fails like this when the user cannot reach docker."""
    if user == "root" or user in (group_members(root, "docker") or set()):
        return
    raise SandboxError(
        "docker exit status: 1\ndocker stdout: Nothing written\ndocker stderr: permission "
        "denied while trying to connect to the Docker daemon socket at "
        f"unix:///var/run/docker.sock ({user} is not in the docker group)"
    )


def _strict_modes_ok(home: Path, authorized_keys: Path) -> bool:
    """sshd's StrictModes: no group/other write on the home, ~/.ssh or the file."""
    writable = stat.S_IWGRP | stat.S_IWOTH
    paths = (home, authorized_keys.parent, authorized_keys)
    return all(path.exists() and not path.stat().st_mode & writable for path in paths)


def _authorized_keys(text: str) -> set[tuple[str, str]]:
    keys = set()
    for line in text.splitlines():
        fields = line.split()
        for index, field in enumerate(fields[:-1]):
            if field.startswith(("ssh-", "ecdsa-", "sk-")):
                keys.add((field, fields[index + 1]))
                break
    return keys


def _key_blob(public_line: str) -> tuple[str, str]:
    key_type, blob, *_ = public_line.split()
    return key_type, blob
