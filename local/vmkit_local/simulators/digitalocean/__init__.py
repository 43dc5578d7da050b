"""Local simulator of the DigitalOcean API."""

from .simulator import API_PREFIX, DigitalOceanSimulator

__all__ = ["API_PREFIX", "DigitalOceanSimulator"]
