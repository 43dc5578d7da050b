"""The fixed Hetzner catalog VMKit picks from: locations, server types and images.

Shapes follow the Hetzner Cloud API reference (docs.hetzner.cloud); ids of server types
are the real ones, prices are the 2025/26 list prices (net EUR, gross with 19 % VAT).
Arm (cax) types exist only in the EU locations, as on Hetzner.
"""

from __future__ import annotations

from typing import Any

TB = 1024**4
EU_LOCATIONS = ("fsn1", "nbg1", "hel1")

LOCATIONS: list[dict[str, Any]] = [
    {
        "id": 1,
        "name": "fsn1",
        "description": "Falkenstein DC Park 1",
        "country": "DE",
        "city": "Falkenstein",
        "latitude": 50.47612,
        "longitude": 12.370071,
        "network_zone": "eu-central",
    },
    {
        "id": 2,
        "name": "nbg1",
        "description": "Nuremberg DC Park 1",
        "country": "DE",
        "city": "Nuremberg",
        "latitude": 49.452102,
        "longitude": 11.076665,
        "network_zone": "eu-central",
    },
    {
        "id": 3,
        "name": "hel1",
        "description": "Helsinki DC Park 1",
        "country": "FI",
        "city": "Helsinki",
        "latitude": 60.169855,
        "longitude": 24.938379,
        "network_zone": "eu-central",
    },
    {
        "id": 4,
        "name": "ash",
        "description": "Ashburn, VA",
        "country": "US",
        "city": "Ashburn, VA",
        "latitude": 39.045821,
        "longitude": -77.487073,
        "network_zone": "us-east",
    },
    {
        "id": 5,
        "name": "hil",
        "description": "Hillsboro, OR",
        "country": "US",
        "city": "Hillsboro, OR",
        "latitude": 45.54222,
        "longitude": -122.951924,
        "network_zone": "us-west",
    },
    {
        "id": 6,
        "name": "sin",
        "description": "Singapore",
        "country": "SG",
        "city": "Singapore",
        "latitude": 1.283333,
        "longitude": 103.833333,
        "network_zone": "ap-southeast",
    },
]

# name: (id, cores, memory GB, disk GB, architecture, cpu_type, category, monthly net EUR)
_SERVER_TYPE_SPECS: dict[str, tuple[int, int, float, int, str, str, str, float]] = {
    "cax11": (45, 2, 4.0, 40, "arm", "shared", "cost_optimized", 3.79),
    "cax21": (93, 4, 8.0, 80, "arm", "shared", "cost_optimized", 6.49),
    "cax31": (94, 8, 16.0, 160, "arm", "shared", "cost_optimized", 12.49),
    "cax41": (95, 16, 32.0, 320, "arm", "shared", "cost_optimized", 24.49),
    "cpx11": (22, 2, 2.0, 40, "x86", "shared", "regular_purpose", 4.35),
    "cpx21": (23, 3, 4.0, 80, "x86", "shared", "regular_purpose", 7.55),
    "cpx31": (24, 4, 8.0, 160, "x86", "shared", "regular_purpose", 13.60),
}


def _money(amount: float) -> dict[str, str]:
    return {"net": f"{amount:.10f}", "gross": f"{amount * 1.19:.10f}"}


def _server_type(name: str) -> dict[str, Any]:
    type_id, cores, memory, disk, arch, cpu_type, category, monthly = _SERVER_TYPE_SPECS[name]
    locations = EU_LOCATIONS if arch == "arm" else tuple(loc["name"] for loc in LOCATIONS)
    return {
        "id": type_id,
        "name": name,
        "description": name.upper(),
        "category": category,
        "cores": cores,
        "memory": memory,
        "disk": disk,
        "deprecated": False,
        "deprecation": None,
        "storage_type": "local",
        "cpu_type": cpu_type,
        "architecture": arch,
        "prices": [
            {
                "location": loc,
                "price_hourly": _money(round(monthly / 621, 4)),
                "price_monthly": _money(monthly),
                "included_traffic": 20 * TB if loc in EU_LOCATIONS else TB,
                "price_per_tb_traffic": _money(1.0),
            }
            for loc in locations
        ],
        "locations": [
            {
                "id": next(item["id"] for item in LOCATIONS if item["name"] == loc),
                "name": loc,
                "deprecation": None,
                "available": True,
                "recommended": True,
            }
            for loc in locations
        ],
    }


SERVER_TYPES: list[dict[str, Any]] = [_server_type(name) for name in _SERVER_TYPE_SPECS]


def _image(image_id: int, name: str, flavor: str, version: str, arch: str) -> dict[str, Any]:
    return {
        "id": image_id,
        "type": "system",
        "status": "available",
        "name": name,
        "description": f"{flavor.capitalize()} {version}",
        "image_size": None,
        "disk_size": 5,
        "created": "2024-04-25T10:00:00+00:00",
        "created_from": None,
        "bound_to": None,
        "os_flavor": flavor,
        "os_version": version,
        "rapid_deploy": True,
        "protection": {"delete": False},
        "deprecated": None,
        "deleted": None,
        "labels": {},
        "architecture": arch,
    }


IMAGES: list[dict[str, Any]] = [
    _image(161547269, "ubuntu-24.04", "ubuntu", "24.04", "x86"),
    _image(161547270, "ubuntu-24.04", "ubuntu", "24.04", "arm"),
    _image(114690387, "debian-12", "debian", "12", "x86"),
    _image(114690389, "debian-12", "debian", "12", "arm"),
]


def find(items: list[dict[str, Any]], id_or_name: Any) -> list[dict[str, Any]]:
    """Entries whose id or name is `id_or_name` (the API accepts either)."""
    return [item for item in items if id_or_name in (item["id"], item["name"], str(item["id"]))]
