"""Local simulators of the Hetzner Cloud, DigitalOcean, Cloudflare DNS and GitHub REST APIs.

Each is an object holding the API's state with an ASGI `.app` to serve (see
`serve_in_thread`), reached through the real SDK clients by their base URL. Hooks
(`hooks.py`) connect them to the sandbox VMs; `faults` injects rate limits and
server errors.
"""

from .cloudflare import CloudflareSimulator
from .digitalocean import DigitalOceanSimulator
from .faults import FaultInjector
from .github import GitHubSimulator
from .hetzner import HetznerSimulator
from .serving import serve_in_thread

__all__ = [
    "CloudflareSimulator",
    "DigitalOceanSimulator",
    "FaultInjector",
    "GitHubSimulator",
    "HetznerSimulator",
    "serve_in_thread",
]
