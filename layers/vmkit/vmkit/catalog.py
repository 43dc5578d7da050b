"""What VMKit knows how to provision: server types and regions per provider.

From the sizing table in the product docs (bring-your-own-server). Prices are
Hetzner's list prices in USD, used for the deploy plan's monthly cost; they are
estimates and are labelled as such wherever they are shown.
"""

from __future__ import annotations

from pydantic import BaseModel

from vmkit.errors import InvalidInput
from vmkit.models import Provider


class ServerType(BaseModel):
    name: str
    vcpus: int
    memory_gb: int
    disk_gb: int
    arch: str
    monthly_usd: float
    good_for: str


HETZNER_TYPES = {
    t.name: t
    for t in [
        ServerType(
            name="cax11",
            vcpus=2,
            memory_gb=4,
            disk_gb=40,
            arch="arm64",
            monthly_usd=4.5,
            good_for="small APIs, personal projects, low-traffic SaaS",
        ),
        ServerType(
            name="cax21",
            vcpus=4,
            memory_gb=8,
            disk_gb=80,
            arch="arm64",
            monthly_usd=9.0,
            good_for="production apps with moderate traffic, app + sidecar services",
        ),
        ServerType(
            name="cax31",
            vcpus=8,
            memory_gb=16,
            disk_gb=160,
            arch="arm64",
            monthly_usd=18.0,
            good_for="ML inference, high-traffic services, multi-app VMs",
        ),
        ServerType(
            name="cax41",
            vcpus=16,
            memory_gb=32,
            disk_gb=320,
            arch="arm64",
            monthly_usd=36.0,
            good_for="memory-intensive workloads, local LLM serving",
        ),
    ]
}
# The cax line (Ampere ARM64) is offered in Hetzner's EU locations.
HETZNER_REGIONS = ("fsn1", "nbg1", "hel1")
DEFAULT_SERVER_TYPE = "cax11"

# The `local` provider runs the same Hetzner adapter against the local simulator, so it
# offers the same catalogue; the VM is a sandbox on this machine and costs nothing.
CATALOG: dict[Provider, tuple[dict[str, ServerType], tuple[str, ...]]] = {
    Provider.hetzner: (HETZNER_TYPES, HETZNER_REGIONS),
    Provider.local: (HETZNER_TYPES, HETZNER_REGIONS),
}


def _offer(provider: Provider) -> tuple[dict[str, ServerType], tuple[str, ...]]:
    if provider not in CATALOG:
        raise InvalidInput(
            f"provider '{provider.value}' is not supported yet", code="unsupported_provider"
        )
    return CATALOG[provider]


def server_type(provider: Provider, name: str) -> ServerType:
    types, _ = _offer(provider)
    if name not in types:
        raise InvalidInput(
            f"server type '{name}' is not offered for {provider.value}; "
            f"choose one of {', '.join(types)}",
            code="invalid_server_type",
        )
    return types[name]


def check_region(provider: Provider, region: str) -> str:
    _, regions = _offer(provider)
    if region not in regions:
        raise InvalidInput(
            f"region '{region}' is not offered for {provider.value}; choose one of {', '.join(regions)}",
            code="invalid_region",
        )
    return region


def default_region(provider: Provider) -> str:
    return _offer(provider)[1][0]


def monthly_cost(provider: Provider, name: str) -> float:
    return 0.0 if provider is Provider.local else server_type(provider, name).monthly_usd
