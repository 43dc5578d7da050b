"""The composition root: every port a use case needs, built lazily once per cold start.

Handlers call `get_deps()`; tests build `Deps(settings, ...)` with fakes in place of
any port (`tests/support/fakes.py`). Nothing is built until first used, so a function
pays at cold start only for the clients and SDKs its code path touches: a REST call
that lists repos never imports hcloud or pydo, and a step that sets DNS never builds a
Step Functions client.

Ports (`vmkit.ports`): `compute(target)`, `dns()`, `forge(repo)`, `github`,
`executions`, `agents`, `artifacts`; plus `store` (DynamoDB) and `sealer` (KMS).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

from vmkit import warm
from vmkit.crypto import Sealer
from vmkit.errors import Forbidden, InvalidInput
from vmkit.models import ComputeTarget, Provider, Repo
from vmkit.ports import (
    AgentArtifacts,
    AgentChannel,
    Compute,
    Dns,
    Executions,
    Forge,
    GitHubApp,
)
from vmkit.secrets import get_secret
from vmkit.settings import Settings, get_settings
from vmkit.store import Store, Table

ComputeFactory = Callable[[ComputeTarget], Compute]
DnsFactory = Callable[[], Dns]
ForgeFactory = Callable[[Repo], Forge]

_OVERRIDABLE = frozenset({"store", "sealer", "executions", "agents", "artifacts", "github"})


class Deps:
    def __init__(
        self,
        settings: Settings,
        *,
        compute: ComputeFactory | None = None,
        dns: DnsFactory | None = None,
        forge: ForgeFactory | None = None,
        **ports: Any,
    ):
        """`compute`, `dns`, `forge` replace the adapter factories; `ports` replace any of
        `store`, `sealer`, `executions`, `agents`, `artifacts`, `github` (tests pass fakes)."""
        unknown = set(ports) - _OVERRIDABLE
        if unknown:
            raise TypeError(f"Deps has no port named {', '.join(sorted(unknown))}")
        self.settings = settings
        self._clients: dict[str, Any] = {}
        self._compute = compute or self._provider_compute
        self._dns = dns or self._cloudflare_dns
        self._forge = forge or self._github_forge
        self.__dict__.update(ports)  # a cached_property reads the instance dict first

    # --- AWS ---------------------------------------------------------------------------

    def aws(self, service: str, *, endpoint_url: str | None = None) -> Any:
        """A boto3 client, made once per service (clients are thread-safe and cached)."""
        key = f"{service}@{endpoint_url or ''}"
        if key not in self._clients:
            import boto3

            self._clients[key] = boto3.client(service, endpoint_url=endpoint_url)
        return self._clients[key]

    @cached_property
    def store(self) -> Store:
        return Store(Table(self.settings.table_name, self.aws("dynamodb")))

    @cached_property
    def sealer(self) -> Sealer:
        return Sealer(self.settings.kms_key_id, self.aws("kms"))

    @cached_property
    def executions(self) -> Executions:
        from vmkit.adapters.stepfunctions import StepFunctionsExecutions

        return StepFunctionsExecutions(self.aws("stepfunctions"))

    @cached_property
    def agents(self) -> AgentChannel:
        from vmkit.adapters.agent_channel import ApiGatewayAgentChannel

        management = self.settings.require("ws_management_url").ws_management_url
        return ApiGatewayAgentChannel(self.aws("apigatewaymanagementapi", endpoint_url=management))

    @cached_property
    def github(self) -> GitHubApp:
        """The VMKit GitHub App: installations, and what a signed-in user can see."""
        from vmkit.adapters.github_app import GitHubAppClient

        s = self.settings
        return GitHubAppClient(
            app_id=s.github_app_id,
            private_key=get_secret(s.github_app_key_parameter, "the GitHub App private key"),
            base_url=s.github_api_url,
        )

    @cached_property
    def artifacts(self) -> AgentArtifacts:
        from vmkit.adapters.artifacts import S3AgentArtifacts

        s = self.settings.require("agent_bucket")
        return S3AgentArtifacts(self.aws("s3"), s.agent_bucket, s.agent_key)

    # --- the outside world ---------------------------------------------------------------

    def compute(self, target: ComputeTarget) -> Compute:
        """The cloud a compute target provisions on, with its own (decrypted) token."""
        return self._compute(target)

    def dns(self) -> Dns:
        return self._dns()

    def forge(self, repo: Repo) -> Forge:
        """GitHub, acting as the App's installation on `repo`."""
        return self._forge(repo)

    def _provider_compute(self, target: ComputeTarget) -> Compute:
        from vmkit import credentials

        s = self.settings
        poll = s.provider_poll_seconds
        if target.provider is Provider.hetzner:
            from vmkit.adapters.hetzner import Hetzner

            token = credentials.provider_token(self.sealer, target) or ""
            return Hetzner(token, api_endpoint=s.hcloud_api_url or None, poll_interval=poll)
        if target.provider is Provider.digitalocean:
            from vmkit.adapters.digitalocean import DigitalOcean

            token = credentials.provider_token(self.sealer, target) or ""
            return DigitalOcean(
                token, api_endpoint=s.digitalocean_api_url or None, poll_interval=poll
            )
        if target.provider is Provider.local:
            from vmkit.adapters.hetzner import Hetzner

            # The embedded default: the same Hetzner adapter, against the local simulator.
            if not s.local_compute_url:
                raise InvalidInput(
                    "local compute targets work only on the local stack",
                    code="unsupported_provider",
                )
            return Hetzner(
                s.local_compute_token, api_endpoint=s.local_compute_url, poll_interval=poll
            )
        raise InvalidInput(
            f"provider '{target.provider.value}' is not supported yet", code="unsupported_provider"
        )

    def _cloudflare_dns(self) -> Dns:
        from vmkit.adapters.cloudflare_dns import CloudflareDns

        s = self.settings
        token = get_secret(s.cloudflare_token_parameter, "the Cloudflare API token")
        return CloudflareDns(token, s.cloudflare_zone_id, base_url=s.cloudflare_api_url or None)

    def _github_forge(self, repo: Repo) -> Forge:
        from vmkit.adapters.github_app import GitHubRepo

        if repo.installation_id is None:
            raise Forbidden(
                f"{repo.full_name} is connected through no GitHub App installation; "
                "disconnect it and connect it again",
                code="installation_missing",
            )
        s = self.settings
        return GitHubRepo(
            app_id=s.github_app_id,
            private_key=get_secret(s.github_app_key_parameter, "the GitHub App private key"),
            installation_id=repo.installation_id,
            owner=repo.owner,
            repo=repo.name,
            base_url=s.github_api_url,
        )


def get_deps() -> Deps:
    """This execution environment's Deps (`vmkit.warm`), built on first use."""
    return warm.kept("deps", lambda: Deps(get_settings()))


def use_deps(deps: Deps | None) -> None:
    """Make `deps` what `get_deps()` returns (None: build afresh on next use)."""
    warm.keep("deps", deps)
