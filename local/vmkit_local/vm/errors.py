"""Errors of the qemu guests: derived from the domain root, like the sandbox's, so the
Hetzner simulator turns a failed boot into a failed `create_server` action."""

from __future__ import annotations

from vmkit.errors import NotFound, VMKitError


class GuestError(VMKitError):
    code = "guest_error"
    status = 500


class ToolMissing(GuestError):
    """A host tool the real-VM target needs (qemu, mmdebstrap, …) is not installed."""

    code = "tool_missing"


class ImageBuildFailed(GuestError):
    code = "image_build_failed"


class UnknownGuest(NotFound):
    code = "server_not_found"
