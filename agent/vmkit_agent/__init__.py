"""The VMKit agent: runs on the user's VM and dials the control plane over WebSocket."""

from vmkit_agent._version import __version__

__all__ = ["__version__"]
