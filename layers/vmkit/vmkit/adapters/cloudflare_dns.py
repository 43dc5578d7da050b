"""DNS on Cloudflare, through the official `cloudflare` SDK.

Records are A records, not proxied (kamal-proxy terminates TLS on the VM with Let's
Encrypt, which needs the name to resolve to the VM itself), with a short TTL so a
reset VM's new address is picked up quickly. Upsert is idempotent: a rerun finds the
record by exact name and updates it in place.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from vmkit.errors import ProviderError

TTL_SECONDS = 60
COMMENT = "managed by VMKit"


class CloudflareDns:
    def __init__(
        self, api_token: str, zone_id: str, *, base_url: str | None = None, max_retries: int = 2
    ):
        from cloudflare import Cloudflare

        kwargs: dict[str, Any] = {"api_token": api_token, "max_retries": max_retries}
        if base_url:
            kwargs["base_url"] = base_url
        self.client = Cloudflare(**kwargs)
        self.zone_id = zone_id

    def _a_records(self, name: str) -> list[Any]:
        return list(
            self.client.dns.records.list(zone_id=self.zone_id, name={"exact": name}, type="A")
        )

    def upsert_a_record(self, name: str, ip: str) -> str:
        with _errors(f"point {name} at {ip}"):
            existing = self._a_records(name)
            fields = {
                "zone_id": self.zone_id,
                "name": name,
                "type": "A",
                "content": ip,
                "ttl": TTL_SECONDS,
                "proxied": False,
                "comment": COMMENT,
            }
            if existing:
                record = existing[0]
                if record.content != ip or record.proxied:
                    self.client.dns.records.update(record.id, **fields)
                return record.id
            created = self.client.dns.records.create(**fields)
            return created.id

    def delete_records(self, name: str) -> int:
        with _errors(f"delete the records of {name}"):
            records = self._a_records(name)
            for record in records:
                self.client.dns.records.delete(record.id, zone_id=self.zone_id)
            return len(records)


@contextmanager
def _errors(what: str) -> Iterator[None]:
    import cloudflare

    try:
        yield
    except cloudflare.APIStatusError as exc:
        transient = exc.status_code == 429 or exc.status_code >= 500
        raise ProviderError(
            f"Cloudflare refused to {what} (HTTP {exc.status_code})",
            provider="cloudflare",
            transient=transient,
        ) from exc
    except cloudflare.APIConnectionError as exc:
        raise ProviderError(
            f"could not reach Cloudflare to {what}", provider="cloudflare", transient=True
        ) from exc
