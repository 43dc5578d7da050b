"""Local simulator of the Hetzner Cloud API."""

from .simulator import API_PREFIX, HetznerSimulator

__all__ = ["API_PREFIX", "HetznerSimulator"]
