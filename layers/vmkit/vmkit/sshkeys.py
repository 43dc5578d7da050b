"""The per-target deploy key: ed25519, the private half sealed, the public half on the VM.

GitHub Actions uses it (as the `VMKIT_SSH_PRIVATE_KEY` secret) to SSH in as `kamal`.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


@dataclass(frozen=True)
class DeployKeyPair:
    private_openssh: str
    public_openssh: str

    def __repr__(self) -> str:
        return f"DeployKeyPair(public={self.public_openssh!r})"


def generate_deploy_key(comment: str) -> DeployKeyPair:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return DeployKeyPair(private_openssh=private, public_openssh=f"{public} {comment}")
