"""Compute on Hetzner Cloud, through the official `hcloud` SDK.

hcloud already retries rate limits and conflicts with jittered backoff; what it
does not retry (5xx, `unavailable`, `locked`) is raised as a transient
`ProviderError` so the state machine retries it with its own backoff. VMKit marks
every server it creates with labels, which is also how a retried create finds the
server an earlier attempt made instead of making a second one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from vmkit.errors import ProviderCredentialsRejected, ProviderError
from vmkit.ports import Region, Server, Size

IMAGE = "debian-12"
TRANSIENT_CODES = {
    "rate_limit_exceeded",
    "conflict",
    "locked",
    "unavailable",
    "timeout",
    "server_error",
    "bad_gateway",
    "maintenance",
    "resource_unavailable",
}


class Hetzner:
    def __init__(self, token: str, *, api_endpoint: str | None = None, poll_interval: float = 1.0):
        from hcloud import Client

        kwargs: dict[str, Any] = {"poll_interval": poll_interval, "application_name": "vmkit"}
        if api_endpoint:
            kwargs["api_endpoint"] = api_endpoint
        self.client = Client(token=token, **kwargs)

    def check_credentials(self) -> None:
        with _errors("list servers"):
            self.client.servers.get_list(per_page=1)

    def create_server(
        self, *, name: str, server_type: str, region: str, user_data: str, labels: dict[str, str]
    ) -> Server:
        from hcloud.images import Image
        from hcloud.locations import Location
        from hcloud.server_types import ServerType

        with _errors("create a server", f"{server_type} in {region}"):
            created = self.client.servers.create(
                name=name,
                server_type=ServerType(name=server_type),
                image=Image(name=IMAGE),
                location=Location(name=region),
                user_data=user_data,
                labels=labels,
            )
            created.action.wait_until_finished()
            return _server(self.client.servers.get_by_id(created.server.id))

    def get_server(self, server_id: str) -> Server | None:
        from hcloud import APIException

        try:
            with _errors("get server"):
                return _server(self.client.servers.get_by_id(int(server_id)))
        except ProviderError as exc:
            if isinstance(exc.__cause__, APIException) and exc.__cause__.code == "not_found":
                return None
            raise

    def find_servers(self, labels: dict[str, str]) -> list[Server]:
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        with _errors("list servers"):
            return [_server(s) for s in self.client.servers.get_all(label_selector=selector)]

    def delete_server(self, server_id: str) -> None:
        from hcloud.servers import BoundServer

        server = self.get_server(server_id)
        if server is None:
            return
        with _errors("delete server"):
            action = self.client.servers.delete(
                BoundServer(self.client.servers, {"id": int(server_id)})
            )
            action.wait_until_finished()

    def resize_server(self, server_id: str, server_type: str) -> Server:
        from hcloud.server_types import ServerType

        bound = self._existing(server_id)
        if bound.server_type.name == server_type:
            return _server(bound)
        asked = f"server {server_id} to {server_type} in {bound.location.name}"
        with _errors("resize a server", asked):
            if bound.status != "off":
                bound.power_off().wait_until_finished()
            # upgrade_disk=False keeps the disk as it is, so a resize down stays possible.
            try:
                bound.change_type(
                    ServerType(name=server_type), upgrade_disk=False
                ).wait_until_finished()
            finally:  # refused or not, the server runs again (on its old size if refused)
                bound.power_on().wait_until_finished()
        return _server(self._existing(server_id))

    def rebuild_server(self, server_id: str) -> Server:
        from hcloud.images import Image

        bound = self._existing(server_id)
        with _errors("rebuild a server", f"server {server_id}"):
            bound.rebuild(Image(name=IMAGE)).action.wait_until_finished()
        return _server(self._existing(server_id))

    def list_sizes(self) -> list[Size]:
        with _errors("list server types"):
            types = self.client.server_types.get_all()
        return [
            Size(
                name=t.name,
                vcpus=t.cores,
                memory_gb=t.memory,
                disk_gb=t.disk,
                monthly_usd=max((float(p["price_monthly"]["gross"]) for p in t.prices), default=0),
                regions=tuple(p["location"] for p in t.prices),
                available=not t.deprecated,
            )
            for t in types
        ]

    def list_regions(self) -> list[Region]:
        with _errors("list locations"):
            locations = self.client.locations.get_all()
        return [Region(name=loc.name, description=loc.description) for loc in locations]

    def _existing(self, server_id: str) -> Any:
        with _errors("get a server", f"server {server_id}"):
            bound = self.client.servers.get_by_id(int(server_id))
        return bound


def _server(bound: Any) -> Server:
    ipv4 = bound.public_net.ipv4.ip if bound.public_net and bound.public_net.ipv4 else None
    return Server(
        id=str(bound.id),
        name=bound.name,
        status=bound.status,
        ip=ipv4,
        labels=dict(bound.labels or {}),
        server_type=bound.server_type.name if bound.server_type else None,
    )


@contextmanager
def _errors(what: str, asked: str = "") -> Iterator[None]:
    """Translate hcloud's exceptions into `ProviderError`, transient where retrying helps."""
    subject = f" ({asked})" if asked else ""
    import requests
    from hcloud import APIException
    from hcloud.actions import ActionFailedException, ActionTimeoutException

    try:
        yield
    except APIException as exc:
        code = str(exc.code)
        if code in ("unauthorized", "forbidden", "token_readonly"):
            raise ProviderCredentialsRejected(
                f"Hetzner refused the API token to {what}: {exc.message} ({code}); "
                "create a Read & Write token in the Hetzner project and update the target",
                provider="hetzner",
            ) from exc
        transient = code in TRANSIENT_CODES or code.startswith("5")
        raise ProviderError(
            f"Hetzner refused to {what}{subject}: {exc.message} ({code})",
            provider="hetzner",
            transient=transient,
        ) from exc
    except ActionTimeoutException as exc:
        raise ProviderError(
            f"Hetzner did not finish the {what} action in time", provider="hetzner", transient=True
        ) from exc
    except ActionFailedException as exc:
        raise ProviderError(
            f"Hetzner's {what} action failed: {exc.action.error}", provider="hetzner"
        ) from exc
    except requests.RequestException as exc:
        raise ProviderError(
            f"could not reach Hetzner to {what}: {type(exc).__name__}",
            provider="hetzner",
            transient=True,
        ) from exc
