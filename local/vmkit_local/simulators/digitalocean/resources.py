"""JSON shapes of Droplets, actions, SSH keys and paginated lists, from the simulator's records.

Records keep only what is the account's (ids, names, tags, addresses, status, size);
the size, region and image objects are joined in when rendering, as the API embeds
them. Lists carry `links.pages` (`first`/`prev`/`next`/`last`, each only where it
applies) and `meta.total`, and accept `page` and `per_page` (at most 200).
"""

from __future__ import annotations

import re
from typing import Any

from starlette.responses import JSONResponse

from ..endpoint import Call
from . import catalog
from .errors import unprocessable

MAX_PER_PAGE = 200
# The OpenAPI description's pattern for a Droplet name.
_NAME = re.compile(r"^[a-zA-Z0-9]?[a-z0-9A-Z.\-]*[a-z0-9A-Z]$")
_TAG = re.compile(r"^[a-zA-Z0-9_\-:]{1,255}$")


def droplet_json(record: dict[str, Any]) -> dict[str, Any]:
    size = catalog.size(record["size"])
    assert size is not None
    region = catalog.region(record["region"])
    v4, v6 = [], []
    if record.get("ipv4"):
        gateway = ".".join([*record["ipv4"].split(".")[:3], "1"])
        v4.append(
            {
                "ip_address": record["ipv4"],
                "netmask": "255.255.255.0",
                "gateway": gateway,
                "type": "public",
            }
        )
        v6.append(
            {
                "ip_address": f"2001:db8:{record['id']:x}::1",
                "netmask": 64,
                "gateway": f"2001:db8:{record['id']:x}::",
                "type": "public",
            }
        )
    return {
        "id": record["id"],
        "name": record["name"],
        "memory": size["memory"],
        "vcpus": size["vcpus"],
        "disk": record["disk"],  # kept as it was when a resize leaves the disk alone
        "disk_info": [{"type": "local", "size": {"amount": record["disk"], "unit": "gib"}}],
        "locked": False,
        "status": record["status"],
        "kernel": None,
        "created_at": record["created_at"],
        "features": ["droplet_agent", "ipv6"],
        "backup_ids": [],
        "next_backup_window": None,
        "snapshot_ids": [],
        "image": catalog.image(record["image"]),
        "volume_ids": [],
        "size": size,
        "size_slug": record["size"],
        "networks": {"v4": v4, "v6": v6},
        "region": region,
        "tags": list(record["tags"]),
        "vpc_uuid": record["vpc_uuid"],
    }


def action_json(
    action_id: int, action_type: str, droplet_id: int, region: str, started_at: str
) -> dict[str, Any]:
    """A new action, `in-progress` until the simulator completes it."""
    return {
        "id": action_id,
        "status": "in-progress",
        "type": action_type,
        "started_at": started_at,
        "completed_at": None,
        "resource_id": droplet_id,
        "resource_type": "droplet",
        "region": catalog.region(region),
        "region_slug": region,
    }


def validate_name(name: Any) -> str:
    if not isinstance(name, str) or len(name) > 255 or not _NAME.match(name):
        raise unprocessable("Only valid hostname characters are allowed. (a-z, A-Z, 0-9, . and -)")
    return name


def validate_tags(tags: Any) -> list[str]:
    if tags is None:
        return []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise unprocessable("tags must be an array of strings")
    for tag in tags:
        if not _TAG.match(tag):
            raise unprocessable(
                f"tag {tag!r} is invalid: tags may contain letters, numbers, colons, "
                "dashes, and underscores, up to 255 characters"
            )
    return list(dict.fromkeys(tags))


def page_of(call: Call, key: str, items: list[dict[str, Any]]) -> JSONResponse:
    """One page of `items` under `key`, with DigitalOcean's `links.pages` and `meta.total`."""
    page = _positive(call, "page", 1)
    per_page = min(_positive(call, "per_page", 20), MAX_PER_PAGE)
    last = max(1, -(-len(items) // per_page))
    base = f"{call.base_url}{call.url.path}"
    others = [(k, v) for k, v in call.query.multi_items() if k not in ("page", "per_page")]

    def link(number: int) -> str:
        query = "&".join(f"{k}={v}" for k, v in [*others, ("page", number), ("per_page", per_page)])
        return f"{base}?{query}"

    pages: dict[str, str] = {}
    if page > 1:
        pages.update(first=link(1), prev=link(min(page - 1, last)))
    if page < last:
        pages.update(next=link(page + 1), last=link(last))
    window = items[(page - 1) * per_page : page * per_page]
    return JSONResponse(
        {key: window, "links": {"pages": pages} if pages else {}, "meta": {"total": len(items)}}
    )


def _positive(call: Call, name: str, default: int) -> int:
    raw = call.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise unprocessable(f"{name} must be an integer") from None
    if value < 1:
        raise unprocessable(f"{name} must be at least 1")
    return value
