"""JSON shapes of Hetzner servers, actions and SSH keys, built from the simulator's records.

Records keep only what is ours (ids, names, labels, addresses, status); catalog
entries are joined in when rendering, as the API embeds them.
"""

from __future__ import annotations

import re
from typing import Any

from ..sshkeys import md5_fingerprint
from . import catalog
from .errors import invalid_input

_HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


def server_json(record: dict[str, Any]) -> dict[str, Any]:
    server_type = catalog.find(catalog.SERVER_TYPES, record["server_type"])[0]
    image = catalog.find(catalog.IMAGES, record["image_id"])[0]
    location = catalog.find(catalog.LOCATIONS, record["location"])[0]
    ipv4 = record["ipv4"]
    return {
        "id": record["id"],
        "name": record["name"],
        "status": record["status"],
        "created": record["created"],
        "public_net": {
            "ipv4": {
                "id": record["ipv4_id"],
                "ip": ipv4,
                "blocked": False,
                "dns_ptr": f"static.{'.'.join(reversed(ipv4.split('.')))}.clients.your-server.de",
            },
            "ipv6": {
                "id": record["ipv6_id"],
                "ip": record["ipv6"],
                "blocked": False,
                "dns_ptr": [],
            },
            "floating_ips": [],
            "firewalls": [],
        },
        "private_net": [],
        "server_type": server_type,
        "location": location,
        "image": image,
        "iso": None,
        "rescue_enabled": False,
        "locked": False,
        "backup_window": None,
        "outgoing_traffic": 0,
        "ingoing_traffic": 0,
        "included_traffic": next(
            price["included_traffic"]
            for price in server_type["prices"]
            if price["location"] == location["name"]
        ),
        "protection": {"delete": False, "rebuild": False},
        "labels": record["labels"],
        "volumes": [],
        "load_balancers": [],
        "primary_disk_size": record.get("primary_disk_size") or server_type["disk"],
        "placement_group": None,
    }


def action_json(
    action_id: int, command: str, resources: list[tuple[int, str]], started: str
) -> dict[str, Any]:
    return {
        "id": action_id,
        "command": command,
        "status": "running",
        "progress": 0,
        "started": started,
        "finished": None,
        "resources": [{"id": ident, "type": kind} for ident, kind in resources],
        "error": None,
    }


def validate_server_name(name: Any) -> str:
    if not isinstance(name, str) or not _HOSTNAME_RE.match(name):
        raise invalid_input("name", "Name must be a valid hostname (RFC 1123).")
    return name


def ssh_key_fingerprint(public_key: Any) -> str:
    """MD5 fingerprint (`aa:bb:…`) as Hetzner shows it; `invalid_input` if not a key."""
    if not isinstance(public_key, str):
        raise invalid_input("public_key", "Missing data for required field.")
    fingerprint = md5_fingerprint(public_key)
    if fingerprint is None:
        raise invalid_input("public_key", "invalid public key")
    return fingerprint
