"""Local simulator of the GitHub REST API, GitHub App and Actions."""

from .simulator import CreatedRepo, GitHubSimulator
from .webhooks import Delivery

__all__ = ["CreatedRepo", "Delivery", "GitHubSimulator"]
