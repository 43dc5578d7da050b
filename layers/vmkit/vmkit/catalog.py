"""What VMKit knows how to provision: VM sizes and regions per provider, with prices.

Validation reads it (a size or region the provider does not offer is refused when an
environment or compute target is created, not at deploy), deploy plans read the
monthly price, and `GET /api/catalog` serves it to the CLI, the dashboard and agents.

Prices are list prices in USD per month, used for the plan's monthly cost; they are
estimates and are labelled as such wherever they are shown:
- Hetzner: the cax (Ampere ARM64) line from the sizing table in the product docs
  (bring-your-own-server), which rounds Hetzner's EUR prices to USD.
- DigitalOcean: Basic Droplets, Regular (shared CPU, SSD), as published on
  digitalocean.com/pricing/droplets and returned as `price_monthly` by the API's
  `GET /v2/sizes`. DigitalOcean Droplets are x86-64 (amd64).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vmkit.errors import Conflict, InvalidInput
from vmkit.modelbase import Model
from vmkit.models import Provider


class ServerType(Model):
    name: str
    vcpus: int
    memory_gb: int
    disk_gb: int
    arch: Literal["arm64", "amd64"]  # what the app's image is built for
    monthly_usd: float
    good_for: str


class Region(Model):
    name: str
    location: str


@dataclass(frozen=True)
class Offer:
    """What one provider offers: its sizes and regions, and the defaults for each."""

    types: dict[str, ServerType]
    regions: dict[str, Region]
    default_type: str
    default_region: str


def _types(*types: ServerType) -> dict[str, ServerType]:
    return {t.name: t for t in types}


def _regions(*regions: tuple[str, str]) -> dict[str, Region]:
    return {name: Region(name=name, location=location) for name, location in regions}


HETZNER = Offer(
    types=_types(
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
    ),
    # The cax line is offered in Hetzner's EU locations only.
    regions=_regions(
        ("fsn1", "Falkenstein, DE"), ("nbg1", "Nuremberg, DE"), ("hel1", "Helsinki, FI")
    ),
    default_type="cax11",
    default_region="fsn1",
)

DIGITALOCEAN = Offer(
    types=_types(
        ServerType(
            name="s-1vcpu-2gb",
            vcpus=1,
            memory_gb=2,
            disk_gb=50,
            arch="amd64",
            monthly_usd=12.0,
            good_for="a single small service, staging and previews",
        ),
        ServerType(
            name="s-2vcpu-4gb",
            vcpus=2,
            memory_gb=4,
            disk_gb=80,
            arch="amd64",
            monthly_usd=24.0,
            good_for="small APIs, personal projects, low-traffic SaaS",
        ),
        ServerType(
            name="s-4vcpu-8gb",
            vcpus=4,
            memory_gb=8,
            disk_gb=160,
            arch="amd64",
            monthly_usd=48.0,
            good_for="production apps with moderate traffic, app + sidecar services",
        ),
        ServerType(
            name="s-8vcpu-16gb",
            vcpus=8,
            memory_gb=16,
            disk_gb=320,
            arch="amd64",
            monthly_usd=96.0,
            good_for="high-traffic services, multi-app VMs",
        ),
    ),
    # Basic Droplets are offered in every region that takes new Droplets.
    regions=_regions(
        ("nyc1", "New York, US"),
        ("nyc3", "New York, US"),
        ("sfo2", "San Francisco, US"),
        ("sfo3", "San Francisco, US"),
        ("tor1", "Toronto, CA"),
        ("lon1", "London, GB"),
        ("ams3", "Amsterdam, NL"),
        ("fra1", "Frankfurt, DE"),
        ("blr1", "Bangalore, IN"),
        ("sgp1", "Singapore, SG"),
        ("syd1", "Sydney, AU"),
    ),
    default_type="s-2vcpu-4gb",
    default_region="nyc3",
)

# The `local` provider runs the Hetzner adapter against the local simulator, so it
# offers the same catalogue; the VM is a sandbox on this machine and costs nothing.
CATALOG: dict[Provider, Offer] = {
    Provider.hetzner: HETZNER,
    Provider.digitalocean: DIGITALOCEAN,
    Provider.local: HETZNER,
}

PRICES = (
    "USD per month, list-price estimates: Hetzner's cax line as the product docs round it; "
    "DigitalOcean's Basic Droplets (Regular, SSD) from digitalocean.com/pricing/droplets; "
    "local sandbox VMs are free."
)

# Kept for callers written when Hetzner was the only provider; prefer `offer(provider)`.
HETZNER_TYPES = HETZNER.types
HETZNER_REGIONS = tuple(HETZNER.regions)
DEFAULT_SERVER_TYPE = HETZNER.default_type


# Every size and region some provider offers: what an API request may name at all (the
# schemas list them); whether the chosen target's provider offers it is checked later.
ALL_SERVER_TYPES: tuple[str, ...] = tuple(
    dict.fromkeys(name for o in CATALOG.values() for name in o.types)
)
ALL_REGIONS: tuple[str, ...] = tuple(
    dict.fromkeys(name for o in CATALOG.values() for name in o.regions)
)


def offer(provider: Provider) -> Offer:
    if provider not in CATALOG:
        raise InvalidInput(
            f"provider '{provider.value}' is not supported yet", code="unsupported_provider"
        )
    return CATALOG[provider]


def server_type(provider: Provider, name: str) -> ServerType:
    types = offer(provider).types
    if name not in types:
        raise Conflict(
            f"server type '{name}' is not offered for {provider.value}; "
            f"choose one of {', '.join(types)}",
            code="invalid_server_type",
            details={"provider": provider.value, "server_type": name, "offered": list(types)},
        )
    return types[name]


def check_region(provider: Provider, region: str) -> str:
    regions = offer(provider).regions
    if region not in regions:
        raise Conflict(
            f"region '{region}' is not offered for {provider.value}; "
            f"choose one of {', '.join(regions)}",
            code="invalid_region",
            details={"provider": provider.value, "region": region, "offered": list(regions)},
        )
    return region


def default_region(provider: Provider) -> str:
    return offer(provider).default_region


def default_server_type(provider: Provider) -> str:
    return offer(provider).default_type


def monthly_cost(provider: Provider, name: str) -> float:
    return 0.0 if provider is Provider.local else server_type(provider, name).monthly_usd


def sizes_summary(provider: Provider) -> str:
    """One line naming each size with its shape and price, for tool descriptions."""
    return ", ".join(
        f"{t.name} ({t.vcpus} vCPU {t.arch}, {t.memory_gb} GB, ${t.monthly_usd:.2f}/month)"
        for t in offer(provider).types.values()
    )
