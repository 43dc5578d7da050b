"""Local simulator of the Cloudflare DNS API."""

from .simulator import API_PREFIX, CloudflareSimulator

__all__ = ["API_PREFIX", "CloudflareSimulator"]
