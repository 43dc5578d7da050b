"""The local stand-in for a VM, for `pack build` + `kamal deploy`, and the app router.

Exports are loaded on first use: the container shim runs as
`python -m vmkit_local.sandbox.containerd_shim` for every container start and should
not pay for importing the router's web stack.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "SandboxFleet": "fleet",
    "SandboxVM": "fleet",
    "CloudInitResult": "cloudinit",
    "ServiceSupervisor": "supervisor",
    "run_deploy_workflow": "workflow",
    "AppRouter": "router",
    "RouterServer": "router",
    "SandboxError": "errors",
    "CloudInitError": "errors",
    "PathEscapeError": "errors",
    "UnitError": "errors",
    "UnknownServer": "errors",
    "ServerExists": "errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
