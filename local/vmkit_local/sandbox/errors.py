"""Errors of the local VM sandbox.

Their own root, apart from the product's `VMKitError`: a sandbox failure is the stand-in
cloud misbehaving (a VM that cannot boot, a deploy that fails as `kamal deploy` would),
not an error of the control plane. Whoever calls the sandbox turns them into what its
side of the world shows: the Hetzner simulator fails the server's action, the local
Actions runner fails the job with Kamal's wording.
"""

from __future__ import annotations


class SandboxError(Exception):
    """The sandbox refused or failed; `message` says why, for the log it ends up in."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class PathEscapeError(SandboxError):
    """A path given to the sandbox would land outside the VM's root directory."""


class CloudInitError(SandboxError):
    """A cloud-config directive failed or is outside the subset the sandbox interprets.

    `entry` names the directive (e.g. ``runcmd[1]``) so the renderer's author sees
    exactly which line of the user data the sandbox refused.
    """

    def __init__(self, entry: str, message: str):
        super().__init__(f"{entry}: {message}")
        self.entry = entry


class UnitError(SandboxError):
    """A systemd unit is missing or uses directives the supervisor does not emulate."""


class UnknownServer(SandboxError):
    """No sandbox VM has this server id."""


class ServerExists(SandboxError):
    """A sandbox VM with this server id already exists."""


class InvalidServerId(SandboxError):
    """A server id that cannot name a VM directory (the simulator's ids are digits)."""
