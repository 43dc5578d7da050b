"""Errors of the local VM sandbox.

They derive from the domain root so the simulators that call the sandbox can turn them
into API errors in the one place that already does that.
"""

from __future__ import annotations

from vmkit.errors import InvalidInput, NotFound, VMKitError


class SandboxError(VMKitError):
    code = "sandbox_error"
    status = 500


class PathEscapeError(InvalidInput):
    """A path given to the sandbox would land outside the VM's root directory."""

    code = "path_escape"


class CloudInitError(SandboxError):
    """A cloud-config directive failed or is outside the subset the sandbox interprets.

    `entry` names the directive (e.g. ``runcmd[1]``) so the renderer's author sees
    exactly which line of the user data the sandbox refused.
    """

    code = "cloud_init_failed"

    def __init__(self, entry: str, message: str):
        super().__init__(f"{entry}: {message}")
        self.entry = entry


class UnitError(SandboxError):
    """A systemd unit is missing or uses directives the supervisor does not emulate."""

    code = "unit_error"


class UnknownServer(NotFound):
    code = "server_not_found"
