"""A dict-backed cloud behind the `Compute` port, for unit tests that reach no real API.

`FakeClouds` stands in for every provider's account: `Deps` asks it for a target's
compute with the target's decrypted token (so the sealing path still runs), and a
token marked `reject`ed is refused on every call as the real adapters refuse it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from vmkit import catalog, credentials
from vmkit.errors import ProviderCredentialsRejected, ProviderError
from vmkit.models import ComputeTarget, Provider
from vmkit.ports import Region, Server, Size


@dataclass
class FakeCompute:
    provider: Provider
    token: str
    clouds: FakeClouds
    servers: dict[str, Server] = field(default_factory=dict)

    def _authorized(self) -> None:
        if self.token in self.clouds.rejected:
            raise ProviderCredentialsRejected(
                f"{self.provider.value} refused the API token", provider=self.provider.value
            )

    def check_credentials(self) -> None:
        self._authorized()
        self.clouds.checked.append(self.token)

    def create_server(
        self, *, name: str, server_type: str, region: str, user_data: str, labels: dict[str, str]
    ) -> Server:
        self._authorized()
        catalog.server_type(self.provider, server_type)
        server_id = str(len(self.servers) + 1)
        self.servers[server_id] = Server(
            server_id, name, "running", f"198.51.100.{server_id}", dict(labels), server_type
        )
        return self.servers[server_id]

    def get_server(self, server_id: str) -> Server | None:
        self._authorized()
        return self.servers.get(server_id)

    def find_servers(self, labels: dict[str, str]) -> list[Server]:
        self._authorized()
        return [s for s in self.servers.values() if labels.items() <= s.labels.items()]

    def delete_server(self, server_id: str) -> None:
        self._authorized()
        self.servers.pop(server_id, None)

    def resize_server(self, server_id: str, server_type: str) -> Server:
        self._authorized()
        if server_id not in self.servers:
            raise ProviderError(f"no server {server_id}", provider=self.provider.value)
        self.servers[server_id] = replace(self.servers[server_id], server_type=server_type)
        return self.servers[server_id]

    def rebuild_server(self, server_id: str) -> Server:
        self._authorized()
        return self.servers[server_id]

    def list_sizes(self) -> list[Size]:
        self._authorized()
        offer = catalog.offer(self.provider)
        return [
            Size(t.name, t.vcpus, t.memory_gb, t.disk_gb, t.monthly_usd, tuple(offer.regions))
            for t in offer.types.values()
        ]

    def list_regions(self) -> list[Region]:
        self._authorized()
        return [Region(r.name, r.location) for r in catalog.offer(self.provider).regions.values()]


@dataclass
class FakeClouds:
    rejected: set[str] = field(default_factory=set)
    checked: list[str] = field(default_factory=list)
    accounts: dict[tuple[Provider, str], FakeCompute] = field(default_factory=dict)

    def reject(self, token: str) -> None:
        self.rejected.add(token)

    def provider_compute(self, deps: Any, target: ComputeTarget) -> FakeCompute:
        """In place of `Deps._provider_compute`: one account per (provider, token)."""
        token = credentials.provider_token(deps.sealer, target) or "local"
        key = (target.provider, token)
        if key not in self.accounts:
            self.accounts[key] = FakeCompute(target.provider, token, self)
        return self.accounts[key]
