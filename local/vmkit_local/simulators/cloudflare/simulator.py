"""A local Cloudflare API (zones and DNS records), reached by the SDK's `base_url`.

`Cloudflare(api_token=..., base_url=f"{url}/client/v4")` talks to it as to
api.cloudflare.com: zones listed by name, DNS records created, listed with the SDK's
filters, read, replaced (PUT), patched and deleted, in the v4 envelope with
`result_info` pagination and the API's error codes. Zones are made with `add_zone`
(the account owns them; there is no zone creation over the API in VMKit's use).
"""

from __future__ import annotations

import re
import secrets
import threading
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from ..clock import iso_micro, utc_now
from ..endpoint import Call, JsonApi, bearer_token
from ..faults import Fault, FaultInjector, app_with_faults
from ..snapshot import JsonSnapshot
from .errors import CloudflareError, envelope, malformed_json, record_not_found, unroutable
from .records import PROXIABLE_TYPES, clash, validated

API_PREFIX = "/client/v4"
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{40}$")
_TEXT_FILTERS = {
    "exact": lambda value, wanted: value == wanted,
    "contains": lambda value, wanted: wanted in value,
    "startswith": lambda value, wanted: value.startswith(wanted),
    "endswith": lambda value, wanted: value.endswith(wanted),
}


class CloudflareSimulator:
    """State and ASGI app of the simulated Cloudflare API; serve `.app`."""

    def __init__(
        self, *, token: str, zones: Iterable[str] = (), data_dir: Path | None = None
    ) -> None:
        """`token` is the only API token accepted; `zones` are added unless present;
        `data_dir` keeps `cloudflare.json` so a restart keeps zone ids and records."""
        self._token = token
        self._lock = threading.RLock()
        self._snapshot = JsonSnapshot(data_dir / "cloudflare.json" if data_dir else None)
        self._state = self._snapshot.load() or {
            "account": {"id": uuid.uuid4().hex, "name": "VMKit local"},
            "zones": {},
            "records": {},
        }
        for name in zones:
            if self.zone_id(name) is None:
                self.add_zone(name)
        self.faults = FaultInjector()
        self.app = self._build_app()

    # -- Python API -------------------------------------------------------------------

    def add_zone(self, name: str) -> dict[str, Any]:
        """Add an active zone to the account (as done once in the dashboard)."""
        now = iso_micro(utc_now())
        zone = {
            "id": uuid.uuid4().hex,
            "name": name.lower().rstrip("."),
            "status": "active",
            "paused": False,
            "type": "full",
            "development_mode": 0,
            "name_servers": ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"],
            "original_name_servers": None,
            "original_registrar": None,
            "original_dnshost": None,
            "created_on": now,
            "modified_on": now,
            "activated_on": now,
            "meta": {
                "step": 2,
                "custom_certificate_quota": 0,
                "page_rule_quota": 3,
                "phishing_detected": False,
            },
            "owner": {"id": None, "type": "user", "email": None},
            "account": dict(self._state["account"]),
            "tenant": {"id": None, "name": None},
            "tenant_unit": {"id": None},
            "permissions": ["#dns_records:edit", "#dns_records:read", "#zone:read"],
            "plan": {
                "id": "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
                "name": "Free Website",
                "price": 0,
                "currency": "USD",
                "frequency": "",
                "is_subscribed": False,
                "can_subscribe": False,
                "legacy_id": "free",
                "legacy_discount": False,
                "externally_managed": False,
            },
        }
        with self._lock:
            self._state["zones"][zone["id"]] = zone
            self._state["records"][zone["id"]] = {}
            self._save()
        return dict(zone)

    def resolve(self, name: str) -> str | None:
        """What a resolver would answer for an A query on `name` (the local DNS)."""
        wanted = name.lower().rstrip(".")
        with self._lock:
            for records in self._state["records"].values():
                for record in records.values():
                    if record["type"] == "A" and record["name"] == wanted:
                        return str(record["content"])
        return None

    def zone_id(self, name: str) -> str | None:
        with self._lock:
            for zone in self._state["zones"].values():
                if zone["name"] == name.lower().rstrip("."):
                    return zone["id"]
        return None

    # -- wiring -----------------------------------------------------------------------

    def _build_app(self) -> Any:
        api = JsonApi(bad_json=malformed_json, authenticate=self._authenticate, prefix=API_PREFIX)
        table: list[tuple[str, list[str], Callable[[Call], Response]]] = [
            ("/user/tokens/verify", ["GET"], self._verify_token),
            ("/zones", ["GET"], self._list_zones),
            ("/zones/{zone_id}", ["GET"], self._get_zone),
            ("/zones/{zone_id}/dns_records", ["GET"], self._list_records),
            ("/zones/{zone_id}/dns_records", ["POST"], self._create_record),
            ("/zones/{zone_id}/dns_records/{record_id}", ["GET"], self._get_record),
            ("/zones/{zone_id}/dns_records/{record_id}", ["PUT"], self._replace_record),
            ("/zones/{zone_id}/dns_records/{record_id}", ["PATCH"], self._patch_record),
            ("/zones/{zone_id}/dns_records/{record_id}", ["DELETE"], self._delete_record),
        ]
        api.add_routes(table)
        return app_with_faults(
            api.routes,
            injector=self.faults,
            render=_render_fault,
            exception_handlers={404: _no_route, 405: _method_not_allowed},
            prefix=API_PREFIX,
        )

    def _authenticate(self, call: Call) -> None:
        token = bearer_token(call)
        if token is None:
            raise CloudflareError(
                400, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers"
            )
        if secrets.compare_digest(token, self._token):
            return
        if not _TOKEN_SHAPE.match(token):
            raise CloudflareError(
                400,
                6003,
                "Invalid request headers",
                [(6111, "Invalid format for Authorization header")],
            )
        raise CloudflareError(403, 10000, "Authentication error")

    def _save(self) -> None:
        self._snapshot.save(self._state)

    # -- zones ------------------------------------------------------------------------

    def _verify_token(self, call: Call) -> Response:
        return envelope({"id": uuid.uuid5(uuid.NAMESPACE_OID, self._token).hex, "status": "active"})

    def _list_zones(self, call: Call) -> Response:
        with self._lock:
            zones = list(self._state["zones"].values())
        filters = {
            "name": lambda zone, wanted: zone["name"] == wanted.lower(),
            "status": lambda zone, wanted: zone["status"] == wanted,
            "account.id": lambda zone, wanted: zone["account"]["id"] == wanted,
            "account.name": lambda zone, wanted: zone["account"]["name"] == wanted,
        }
        for param, matches in filters.items():
            if (wanted := call.query.get(param)) is not None:
                zones = [zone for zone in zones if matches(zone, wanted)]
        zones.sort(key=lambda zone: zone["name"])
        return _paginated(call, zones, default_per_page=20, max_per_page=50)

    def _get_zone(self, call: Call) -> Response:
        with self._lock:
            return envelope(dict(self._zone(call)))

    def _zone(self, call: Call) -> dict[str, Any]:
        zone = self._state["zones"].get(call.path_params["zone_id"])
        if zone is None:
            raise unroutable(call.url.path)
        return zone

    # -- DNS records --------------------------------------------------------------------

    def _list_records(self, call: Call) -> Response:
        with self._lock:
            zone = self._zone(call)
            records = list(self._state["records"][zone["id"]].values())
        conditions = _record_conditions(call, zone["name"])
        if call.query.get("match", "all") == "any" and conditions:
            records = [r for r in records if any(cond(r) for cond in conditions)]
        else:
            records = [r for r in records if all(cond(r) for cond in conditions)]
        order = call.query.get("order", "type")
        if order not in ("type", "name", "content", "ttl", "proxied"):
            raise CloudflareError(400, 9201, f"Invalid order field {order!r}")
        records.sort(
            key=lambda r: (r[order], r["name"]), reverse=call.query.get("direction") == "desc"
        )
        return _paginated(
            call, [_record_json(r) for r in records], default_per_page=100, max_per_page=5000
        )

    def _create_record(self, call: Call) -> Response:
        fields = _object_body(call)
        with self._lock:
            zone = self._zone(call)
            record = validated(fields, zone["name"])
            self._refuse_clash(zone["id"], record)
            now = iso_micro(utc_now())
            record.update(id=uuid.uuid4().hex, created_on=now, modified_on=now)
            self._state["records"][zone["id"]][record["id"]] = record
            self._save()
            return envelope(_record_json(record))

    def _get_record(self, call: Call) -> Response:
        with self._lock:
            return envelope(_record_json(self._record(call)))

    def _replace_record(self, call: Call) -> Response:
        return self._update_record(call, merge=False)

    def _patch_record(self, call: Call) -> Response:
        return self._update_record(call, merge=True)

    def _update_record(self, call: Call, *, merge: bool) -> Response:
        fields = _object_body(call)
        with self._lock:
            zone = self._zone(call)
            current = self._record(call)
            record = validated({**current, **fields} if merge else fields, zone["name"])
            self._refuse_clash(zone["id"], record, ignore=current["id"])
            now = iso_micro(utc_now())
            record.update(id=current["id"], created_on=current["created_on"], modified_on=now)
            for field in ("comment", "tags"):
                stamp = f"{field}_modified_on"
                if record[field] != current[field]:
                    record[stamp] = now
                elif stamp in current:
                    record[stamp] = current[stamp]
            self._state["records"][zone["id"]][current["id"]] = record
            self._save()
            return envelope(_record_json(record))

    def _delete_record(self, call: Call) -> Response:
        with self._lock:
            zone = self._zone(call)
            record = self._record(call)
            del self._state["records"][zone["id"]][record["id"]]
            self._save()
        return envelope({"id": record["id"]})

    def _record(self, call: Call) -> dict[str, Any]:
        zone = self._zone(call)
        record = self._state["records"][zone["id"]].get(call.path_params["record_id"])
        if record is None:
            raise record_not_found()
        return record

    def _refuse_clash(
        self, zone_id: str, record: dict[str, Any], ignore: str | None = None
    ) -> None:
        others = [r for r in self._state["records"][zone_id].values() if r["id"] != ignore]
        if (error := clash(record, others)) is not None:
            raise error


def _record_json(record: dict[str, Any]) -> dict[str, Any]:
    body = {
        "id": record["id"],
        "name": record["name"],
        "type": record["type"],
        "content": record["content"],
        "proxiable": record["type"] in PROXIABLE_TYPES,
        "proxied": record["proxied"],
        "ttl": record["ttl"],
        "settings": {},
        "meta": {},
        "comment": record["comment"],
        "tags": record["tags"],
        "created_on": record["created_on"],
        "modified_on": record["modified_on"],
    }
    for optional in ("priority", "comment_modified_on", "tags_modified_on"):
        if optional in record:
            body[optional] = record[optional]
    return body


def _record_conditions(call: Call, zone_name: str) -> list[Callable[[dict[str, Any]], bool]]:
    """Filters of `GET dns_records`: `name=`, `name.exact=`, `content.contains=`, `type=`…"""
    conditions: list[Callable[[dict[str, Any]], bool]] = []
    for field in ("name", "content"):
        for operator, test in _TEXT_FILTERS.items():
            keys = [f"{field}.{operator}"] + ([field] if operator == "exact" else [])
            for key in keys:
                if (wanted := call.query.get(key)) is not None:
                    wanted = wanted.lower() if field == "name" else wanted
                    conditions.append(
                        lambda r, f=field, w=wanted, t=test: t(
                            r[f].lower() if f == "name" else r[f], w
                        )
                    )
    if (wanted_type := call.query.get("type")) is not None:
        conditions.append(lambda r: r["type"] == wanted_type)
    if (proxied := call.query.get("proxied")) is not None:
        conditions.append(lambda r: r["proxied"] == (proxied.lower() == "true"))
    return conditions


def _object_body(call: Call) -> dict[str, Any]:
    if not isinstance(call.body, dict):
        raise CloudflareError(400, 9207, "Request body is invalid.")
    return call.body


def _paginated(
    call: Call, items: list[dict[str, Any]], *, default_per_page: int, max_per_page: int
) -> Response:
    try:
        page = int(call.query.get("page", 1))
        per_page = int(call.query.get("per_page", default_per_page))
    except ValueError:
        raise CloudflareError(400, 1001, "Invalid page or per_page parameter") from None
    if page < 1 or not 1 <= per_page <= max_per_page:
        raise CloudflareError(400, 1001, f"per_page must be between 1 and {max_per_page}")
    window = items[(page - 1) * per_page : page * per_page]
    info = {
        "page": page,
        "per_page": per_page,
        "count": len(window),
        "total_count": len(items),
        "total_pages": max(1, -(-len(items) // per_page)),
    }
    return envelope(window, result_info=info)


def _render_fault(fault: Fault) -> Response:
    """Rate limits as the API answers them; 502/504 come from the edge as HTML."""
    if fault.status == 429:
        response = CloudflareError(
            429, 971, "Please wait and consider throttling your request speed"
        ).to_response()
        response.headers.update(
            {
                "Retry-After": str(fault.retry_after),
                "Ratelimit": f'"default";r=0;t={fault.retry_after}',
                "Ratelimit-Policy": '"burst";q=1200;w=300',
            }
        )
        return response
    if fault.status in (502, 504):
        return PlainTextResponse(
            f"<html><body><h1>{fault.status}</h1>cloudflare</body></html>",
            status_code=fault.status,
            media_type="text/html",
        )
    if fault.status == 403:
        return CloudflareError(403, 10000, "Authentication error").to_response()
    return CloudflareError(fault.status, 10001, "Internal server error").to_response()


async def _no_route(request: Request, exc: Exception) -> Response:
    return CloudflareError(400, 7000, "No route for that URI").to_response()


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    return CloudflareError(405, 10405, "Method not allowed").to_response()
