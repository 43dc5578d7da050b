"""SSH public keys as cloud APIs check and fingerprint them (Hetzner and DigitalOcean
both show the MD5 fingerprint of the key blob, `aa:bb:…`)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

from cryptography.hazmat.primitives.serialization import load_ssh_public_key


def md5_fingerprint(public_key: Any) -> str | None:
    """The key's MD5 fingerprint, or None if `public_key` is not an OpenSSH public key."""
    if not isinstance(public_key, str):
        return None
    parts = public_key.strip().split()
    try:
        load_ssh_public_key(public_key.strip().encode())
        blob = base64.b64decode(parts[1], validate=True)
    except (ValueError, IndexError, binascii.Error, TypeError):
        return None
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))
