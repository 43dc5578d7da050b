"""Build the adapter for each port from a compute target, a repo and the settings."""

from __future__ import annotations

from vmkit.deps import Deps
from vmkit.errors import InvalidInput
from vmkit.models import ComputeTarget, Provider, Repo
from vmkit.providers.ports import Compute, Dns
from vmkit.secrets import get_secret


def compute_for(deps: Deps, target: ComputeTarget) -> Compute:
    from vmkit.providers.hetzner import Hetzner
    from vmkit.services.compute_targets import provider_token

    settings = deps.settings
    poll = settings.provider_poll_seconds
    if target.provider is Provider.hetzner:
        token = provider_token(deps, target) or ""
        return Hetzner(token, api_endpoint=settings.hcloud_api_url or None, poll_interval=poll)
    if target.provider is Provider.local:
        # The embedded default: the same Hetzner adapter, against the local simulator.
        if not settings.local_compute_url:
            raise InvalidInput(
                "local compute targets work only on the local stack", code="unsupported_provider"
            )
        return Hetzner(
            settings.local_compute_token,
            api_endpoint=settings.local_compute_url,
            poll_interval=poll,
        )
    raise InvalidInput(
        f"provider '{target.provider.value}' is not supported yet", code="unsupported_provider"
    )


def dns(deps: Deps) -> Dns:
    from vmkit.providers.cloudflare_dns import CloudflareDns

    settings = deps.settings
    token = get_secret(settings.cloudflare_token_secret, "the Cloudflare API token")
    return CloudflareDns(
        token, settings.cloudflare_zone_id, base_url=settings.cloudflare_api_url or None
    )


def forge(
    deps: Deps, repo: Repo
):  # -> GitHubRepo (lazy import keeps githubkit out of other cold starts)
    from vmkit.providers.github_app import GitHubRepo, installation_id_for

    settings = deps.settings
    key = get_secret(settings.github_app_key_secret, "the GitHub App private key")
    installation_id = repo.installation_id or installation_id_for(
        settings.github_app_id, key, repo.owner, repo.name, settings.github_api_url
    )
    return GitHubRepo(
        app_id=settings.github_app_id,
        private_key=key,
        installation_id=installation_id,
        owner=repo.owner,
        repo=repo.name,
        base_url=settings.github_api_url,
    )
