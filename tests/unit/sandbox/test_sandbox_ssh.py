"""SSH's verdict on the deploy key, from the VM's passwd and authorized_keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from vmkit_local.sandbox.errors import SandboxError
from vmkit_local.sandbox.rootfs import seed_base_image
from vmkit_local.sandbox.ssh import SshDenied, check_docker_access, check_ssh_login, public_key_of


def keypair() -> tuple[str, str]:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return private, public.decode()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    seed_base_image(tmp_path, "vm")
    with (tmp_path / "etc/passwd").open("a") as passwd:
        passwd.write("kamal:x:1000:1000::/home/kamal:/bin/bash\n")
    (tmp_path / "home/kamal/.ssh").mkdir(parents=True, mode=0o700)
    return tmp_path


def test_the_public_half_is_derived_like_ssh_keygen(tmp_path: Path):
    private, public = keypair()

    assert public_key_of(private) == public
    assert public_key_of("not a key") is None


def test_a_key_listed_with_options_and_comment_logs_in(root: Path):
    private, public = keypair()
    keys = root / "home/kamal/.ssh/authorized_keys"
    keys.write_text(f'# managed by vmkit\nfrom="10.0.0.0/8",no-pty {public} vmkit-deploy\n')
    keys.chmod(0o600)

    check_ssh_login(root, "kamal", ["garbage", private])


@pytest.mark.parametrize("problem", ["no user", "other key", "no file", "world-writable"])
def test_anything_else_is_permission_denied(root: Path, problem: str):
    private, public = keypair()
    keys = root / "home/kamal/.ssh/authorized_keys"
    keys.write_text(f"{keypair()[1] if problem == 'other key' else public}\n")
    if problem == "no file":
        keys.unlink()
    if problem == "world-writable":
        keys.chmod(0o666)
    user = "deploy" if problem == "no user" else "kamal"

    with pytest.raises(SshDenied, match=r"Permission denied \(publickey\)"):
        check_ssh_login(root, user, [private])


def test_docker_needs_the_docker_group(root: Path):
    (root / "etc/group").write_text("docker:x:999:kamal\n")
    check_docker_access(root, "kamal")
    check_docker_access(root, "root")

    (root / "etc/group").write_text("docker:x:999:\n")
    with pytest.raises(
        SandboxError, match="permission denied while trying to connect to the Docker"
    ):
        check_docker_access(root, "kamal")
