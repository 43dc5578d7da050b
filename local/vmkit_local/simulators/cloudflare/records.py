"""DNS record rules of the Cloudflare API: names, content per type, TTL, proxying, clashes.

Names are stored fully qualified and lower-case: `@` is the apex, and a name that does
not end in the zone's name is relative to it, as on Cloudflare. The simulator knows
the record types VMKit and its users touch (A, AAAA, CNAME, TXT, MX, NS); others are
refused with the API's "invalid type" error.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from .errors import CloudflareError, dns_validation

PROXIABLE_TYPES = frozenset({"A", "AAAA", "CNAME"})
KNOWN_TYPES = PROXIABLE_TYPES | {"TXT", "MX", "NS"}
_LABEL = r"(?:\*|[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)"
_NAME_RE = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")
_HOST_RE = re.compile(r"^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9])?\.?$")


def qualified_name(name: Any, zone_name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise CloudflareError(400, 9000, "DNS name is invalid.")
    name = name.strip().rstrip(".").lower()
    if name in ("@", zone_name):
        return zone_name
    if not name.endswith("." + zone_name):
        name = f"{name}.{zone_name}"
    if not _NAME_RE.match(name):
        raise CloudflareError(400, 9000, "DNS name is invalid.")
    return name


def validated(fields: dict[str, Any], zone_name: str) -> dict[str, Any]:
    """The record's fields, checked and normalised as Cloudflare stores them."""
    record_type = fields.get("type")
    if record_type not in KNOWN_TYPES:
        raise dns_validation(9020, "Invalid DNS record type")
    name = qualified_name(fields.get("name"), zone_name)
    content = _content(record_type, fields.get("content"))
    proxied = fields.get("proxied", False)
    if not isinstance(proxied, bool):
        raise CloudflareError(400, 9003, "Invalid 'proxied' value, must be a boolean")
    if proxied and record_type not in PROXIABLE_TYPES:
        raise dns_validation(9004, "This record type cannot be proxied.")
    ttl = fields.get("ttl", 1)
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not (ttl == 1 or 60 <= ttl <= 86400):
        raise dns_validation(
            9021, "Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic."
        )
    comment = fields.get("comment")
    if comment is not None and (not isinstance(comment, str) or len(comment) > 100):
        raise CloudflareError(400, 9102, "Comment must be a string of at most 100 characters.")
    tags = fields.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(tag, str) and ":" in tag for tag in tags):
        raise CloudflareError(400, 9103, "Tags must be a list of 'name:value' strings.")
    record = {
        "type": record_type,
        "name": name,
        "content": content,
        "proxied": proxied,
        "ttl": 1 if proxied else ttl,  # proxied records always have automatic TTL
        "comment": comment,
        "tags": tags,
    }
    if record_type == "MX":
        priority = fields.get("priority")
        if (
            isinstance(priority, bool)
            or not isinstance(priority, int)
            or not 0 <= priority <= 65535
        ):
            raise dns_validation(9101, "Priority must be set for MX records (0-65535).")
        record["priority"] = priority
    return record


def _content(record_type: str, content: Any) -> str:
    if not isinstance(content, str) or not content:
        content = ""
    if record_type == "A":
        if not _is_ip(content, ipaddress.IPv4Address):
            raise CloudflareError(400, 9005, "Content for A record must be a valid IPv4 address.")
    elif record_type == "AAAA":
        if not _is_ip(content, ipaddress.IPv6Address):
            raise CloudflareError(
                400, 9006, "Content for AAAA record must be a valid IPv6 address."
            )
    elif record_type in ("CNAME", "MX", "NS"):
        content = content.lower().rstrip(".")
        if not _HOST_RE.match(content) or _is_ip(content, ipaddress.IPv4Address):
            raise dns_validation(9007, f"Content for {record_type} record is invalid.")
    elif not content or len(content) > 2048:
        raise dns_validation(9100, "Content for TXT record must be 1 to 2048 characters.")
    return content


def _is_ip(text: str, kind: type) -> bool:
    try:
        return isinstance(ipaddress.ip_address(text), kind)
    except ValueError:
        return False


def clash(record: dict[str, Any], others: list[dict[str, Any]]) -> CloudflareError | None:
    """The error Cloudflare gives when `record` cannot live beside `others`, if any."""
    same_name = [other for other in others if other["name"] == record["name"]]
    for other in same_name:
        if (other["type"], other["content"], other.get("priority")) == (
            record["type"],
            record["content"],
            record.get("priority"),
        ):
            return CloudflareError(400, 81058, "An identical record already exists.")
    cname_involved = record["type"] == "CNAME" or any(o["type"] == "CNAME" for o in same_name)
    if same_name and cname_involved:
        if record["type"] in PROXIABLE_TYPES:
            return CloudflareError(
                400, 81053, "An A, AAAA, or CNAME record with that host already exists."
            )
        return CloudflareError(400, 81054, "A CNAME record with that host already exists.")
    return None
