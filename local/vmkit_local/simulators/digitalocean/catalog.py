"""The fixed DigitalOcean catalog the simulator offers: regions, sizes and images.

Shapes follow DigitalOcean's OpenAPI description (github.com/digitalocean/openapi);
slugs, shapes and prices are the public ones of the Basic (Regular, SSD) Droplets
(digitalocean.com/pricing/droplets), which the API returns from `GET /v2/sizes`.
Legacy regions that take no new Droplets are listed as unavailable, as the API does.
"""

from __future__ import annotations

from typing import Any

REGION_FEATURES = ["backups", "ipv6", "metadata", "install_agent", "storage", "image_transfer"]
# slug: (name, available)
_REGIONS: dict[str, tuple[str, bool]] = {
    "nyc1": ("New York 1", True),
    "nyc2": ("New York 2", False),
    "nyc3": ("New York 3", True),
    "sfo1": ("San Francisco 1", False),
    "sfo2": ("San Francisco 2", True),
    "sfo3": ("San Francisco 3", True),
    "tor1": ("Toronto 1", True),
    "lon1": ("London 1", True),
    "ams2": ("Amsterdam 2", False),
    "ams3": ("Amsterdam 3", True),
    "fra1": ("Frankfurt 1", True),
    "blr1": ("Bangalore 1", True),
    "sgp1": ("Singapore 1", True),
    "syd1": ("Sydney 1", True),
}
AVAILABLE_REGIONS = [slug for slug, (_, available) in _REGIONS.items() if available]

# slug: (memory MB, vCPUs, disk GB, transfer TB, monthly USD)
_SIZES: dict[str, tuple[int, int, int, float, float]] = {
    "s-1vcpu-512mb-10gb": (512, 1, 10, 0.5, 4.0),
    "s-1vcpu-1gb": (1024, 1, 25, 1.0, 6.0),
    "s-1vcpu-2gb": (2048, 1, 50, 2.0, 12.0),
    "s-2vcpu-2gb": (2048, 2, 60, 3.0, 18.0),
    "s-2vcpu-4gb": (4096, 2, 80, 4.0, 24.0),
    "s-4vcpu-8gb": (8192, 4, 160, 5.0, 48.0),
    "s-8vcpu-16gb": (16384, 8, 320, 6.0, 96.0),
}
HOURS_PER_MONTH = 672  # DigitalOcean caps a month's billing at 672 hours (28 days)


def _size(slug: str) -> dict[str, Any]:
    memory, vcpus, disk, transfer, monthly = _SIZES[slug]
    return {
        "slug": slug,
        "memory": memory,
        "vcpus": vcpus,
        "disk": disk,
        "transfer": transfer,
        "price_monthly": monthly,
        "price_hourly": round(monthly / HOURS_PER_MONTH, 5),
        "regions": list(AVAILABLE_REGIONS),
        "available": True,
        "description": "Basic",
        "disk_info": [{"type": "local", "size": {"amount": disk, "unit": "gib"}}],
    }


SIZES: list[dict[str, Any]] = [_size(slug) for slug in _SIZES]
REGIONS: list[dict[str, Any]] = [
    {
        "name": name,
        "slug": slug,
        "features": list(REGION_FEATURES),
        "available": available,
        "sizes": [size["slug"] for size in SIZES] if available else [],
    }
    for slug, (name, available) in _REGIONS.items()
]

# slug: (id, distribution, name)
_IMAGES: dict[str, tuple[int, str, str]] = {
    "debian-12-x64": (149_000_001, "Debian", "12 x64"),
    "ubuntu-24-04-x64": (149_000_002, "Ubuntu", "24.04 (LTS) x64"),
}


def image(ref: Any) -> dict[str, Any] | None:
    """The public image with this slug or id, as a Droplet embeds it."""
    for slug, (image_id, distribution, name) in _IMAGES.items():
        if ref in (slug, image_id, str(image_id)):
            return {
                "id": image_id,
                "name": name,
                "distribution": distribution,
                "slug": slug,
                "public": True,
                "regions": list(AVAILABLE_REGIONS),
                "created_at": "2024-06-10T16:00:00Z",
                "type": "base",
                "min_disk_size": 10,
                "size_gigabytes": 1.5,
                "description": f"{distribution} {name}",
                "tags": [],
                "status": "available",
            }
    return None


def size(slug: Any) -> dict[str, Any] | None:
    return next((s for s in SIZES if s["slug"] == slug), None)


def region(slug: Any) -> dict[str, Any] | None:
    return next((r for r in REGIONS if r["slug"] == slug), None)
