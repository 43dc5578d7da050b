"""The real-VM target of the local stack: qemu guests running VMKit's cloud-init.

Exports load on first use, so the stack does not import any of it in sandbox mode.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "GuestFleet": "fleet",
    "Guest": "fleet",
    "GuestError": "errors",
    "ImageRecipe": "image",
    "ensure_image": "image",
    "SshSession": "ssh",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
