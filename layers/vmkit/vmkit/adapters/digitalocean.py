"""Compute on DigitalOcean, through the official `pydo` SDK (azure-core underneath).

The same contract as the Hetzner adapter (`vmkit.ports.Compute`), in DigitalOcean's
terms: a server is a Droplet, a label is a tag, a long operation is an action that
is polled until it completes.

Retries follow the Hetzner adapter's shape: the SDK retries what is safe to repeat,
with jittered exponential backoff (hcloud's: 1 s doubling to 60 s, five times) —
a 429 on any call (the request was refused before anything happened; the wait
follows `ratelimit-reset` when it is near), and 5xx on reads and deletes. A 5xx on
a create or an action is not repeated blindly (DigitalOcean allows two Droplets of
one name, so a repeated create could make a second VM); it is raised as a transient
`ProviderError` and the state machine's retry runs the step again, which first looks
for the Droplet by its tags. Errors name what was asked: the size, the region, the
Droplet.

Only this module imports pydo, and only `vmkit.deps` imports this module, when a
DigitalOcean target is used: no other code path pays for the SDK at cold start.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
)
from azure.core.pipeline.policies import RetryPolicy, SansIOHTTPPolicy

from vmkit.errors import ProviderCredentialsRejected, ProviderError
from vmkit.ports import Region, Server, Size

PROVIDER = "digitalocean"
IMAGE = "debian-12-x64"
MAX_RETRIES = 5
BACKOFF_CAP_SECONDS = 60.0
ACTION_TIMEOUT_SECONDS = 600.0
PAGE_SIZE = 200  # the API's maximum
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
# DigitalOcean tag names: letters, digits, colons, dashes and underscores.
_TAG = re.compile(r"^[A-Za-z0-9:_-]{1,255}$")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class DigitalOcean:
    def __init__(
        self,
        token: str,
        *,
        api_endpoint: str | None = None,
        poll_interval: float = 1.0,
        retry_backoff: float = 1.0,
        action_timeout: float = ACTION_TIMEOUT_SECONDS,
    ):
        from pydo import Client

        kwargs: dict[str, Any] = {
            "retry_policy": _RetryPolicy(retry_backoff),
            "user_agent": "vmkit",
            "connection_timeout": 10,
            "read_timeout": 60,
        }
        if api_endpoint:
            kwargs["endpoint"] = api_endpoint.rstrip("/")
            if _is_loopback_http(api_endpoint):
                kwargs["per_call_policies"] = [_AllowPlainHttpOnLoopback()]
        self.client = Client(token, **kwargs)
        self.poll_interval = poll_interval
        self.action_timeout = action_timeout

    # --- the Compute port ----------------------------------------------------------------

    def check_credentials(self) -> None:
        with _errors("list Droplets"):
            self.client.droplets.list(per_page=1)

    def create_server(
        self, *, name: str, server_type: str, region: str, user_data: str, labels: dict[str, str]
    ) -> Server:
        asked = f"size {server_type} in region {region}"
        body = {
            "name": name,
            "region": region,
            "size": server_type,
            "image": IMAGE,
            "user_data": user_data,
            "tags": tags_for(labels),
            "ipv6": True,
        }
        with _errors("create a Droplet", asked):
            created = self.client.droplets.create(body)
        droplet_id = created["droplet"]["id"]
        for link in created.get("links", {}).get("actions", []):
            self._wait(link["id"], f"create of Droplet {droplet_id} ({asked})")
        server = self.get_server(str(droplet_id))
        if server is None:
            raise ProviderError(
                f"DigitalOcean created Droplet {droplet_id} ({asked}) and then lost it",
                provider=PROVIDER,
                transient=True,
            )
        return server

    def get_server(self, server_id: str) -> Server | None:
        droplet = self._droplet(server_id)
        return _server(droplet) if droplet else None

    def find_servers(self, labels: dict[str, str]) -> list[Server]:
        wanted = tags_for(labels)
        if not wanted:
            raise ValueError("find_servers needs at least one label")
        # The API filters by one tag; the others are checked here.
        droplets = self._all("list Droplets", self.client.droplets.list, "droplets", wanted[0])
        return [_server(d) for d in droplets if set(wanted) <= set(d.get("tags") or [])]

    def delete_server(self, server_id: str) -> None:
        with _errors("delete a Droplet", f"Droplet {server_id}"):
            status, _ = self.client.droplets.destroy(int(server_id), cls=_status_and_body)
        # 204: deleted; 404: already gone, which is what was asked.
        if status not in (204, 404):
            raise ProviderError(
                f"DigitalOcean answered {status} to deleting Droplet {server_id}",
                provider=PROVIDER,
            )

    def resize_server(self, server_id: str, server_type: str) -> Server:
        droplet = self._existing(server_id)
        if droplet["size_slug"] == server_type:
            return _server(droplet)
        asked = f"Droplet {server_id} to size {server_type} in region {droplet['region']['slug']}"
        if droplet["status"] != "off":
            self._shut_down(server_id)
        # disk: false keeps the disk as it is, so a later resize down stays possible.
        self._act(server_id, {"type": "resize", "size": server_type, "disk": False}, asked)
        self._act(server_id, {"type": "power_on"}, f"power on of Droplet {server_id}")
        return _server(self._existing(server_id))

    def rebuild_server(self, server_id: str) -> Server:
        self._existing(server_id)
        self._act(server_id, {"type": "rebuild", "image": IMAGE}, f"rebuild of Droplet {server_id}")
        return _server(self._existing(server_id))

    def list_sizes(self) -> list[Size]:
        return [
            Size(
                name=s["slug"],
                vcpus=s["vcpus"],
                memory_gb=s["memory"] / 1024,
                disk_gb=s["disk"],
                monthly_usd=float(s["price_monthly"]),
                regions=tuple(s.get("regions") or ()),
                available=bool(s.get("available", True)),
            )
            for s in self._all("list sizes", self.client.sizes.list, "sizes")
        ]

    def list_regions(self) -> list[Region]:
        return [
            Region(name=r["slug"], description=r["name"], available=bool(r["available"]))
            for r in self._all("list regions", self.client.regions.list, "regions")
        ]

    # --- helpers ---------------------------------------------------------------------------

    def _droplet(self, server_id: str) -> dict[str, Any] | None:
        with _errors("get a Droplet", f"Droplet {server_id}"):
            status, body = self.client.droplets.get(int(server_id), cls=_status_and_body)
        return None if status == 404 else body["droplet"]

    def _existing(self, server_id: str) -> dict[str, Any]:
        droplet = self._droplet(server_id)
        if droplet is None:
            raise ProviderError(f"DigitalOcean has no Droplet {server_id}", provider=PROVIDER)
        return droplet

    def _shut_down(self, server_id: str) -> None:
        """A graceful shutdown, as the resize needs; power off if the OS ignores it."""
        try:
            self._act(server_id, {"type": "shutdown"}, f"shutdown of Droplet {server_id}")
        except ProviderError as exc:
            if exc.transient:
                raise
            self._act(server_id, {"type": "power_off"}, f"power off of Droplet {server_id}")

    def _act(self, server_id: str, action: dict[str, Any], what: str) -> None:
        """Start a Droplet action and wait for it to complete."""
        with _errors(f"start the {action['type']} action", f"for the {what}"):
            status, body = self.client.droplet_actions.post(
                int(server_id), action, cls=_status_and_body
            )
        if status == 404:
            raise ProviderError(f"DigitalOcean has no Droplet {server_id}", provider=PROVIDER)
        self._wait(body["action"]["id"], what)

    def _wait(self, action_id: int, what: str) -> None:
        deadline = time.monotonic() + self.action_timeout
        while True:
            with _errors("get an action", f"for the {what}"):
                _, body = self.client.actions.get(action_id, cls=_status_and_body)
            status = body.get("action", {}).get("status")
            if status == "completed":
                return
            if status == "errored":
                raise ProviderError(f"DigitalOcean's {what} failed", provider=PROVIDER)
            if status is None:
                raise ProviderError(
                    f"DigitalOcean lost action {action_id} ({what})", provider=PROVIDER
                )
            if time.monotonic() > deadline:
                raise ProviderError(
                    f"DigitalOcean did not finish the {what} in {self.action_timeout:.0f} s",
                    provider=PROVIDER,
                    transient=True,
                )
            time.sleep(self.poll_interval)

    def _all(
        self, what: str, list_call: Callable[..., Any], key: str, tag: str | None = None
    ) -> list[dict[str, Any]]:
        """Every item of a paginated listing, following `links.pages.next`."""
        filters = {"tag_name": tag} if tag else {}
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            with _errors(what):
                body = list_call(per_page=PAGE_SIZE, page=page, **filters)
            items.extend(body.get(key) or [])
            if not (body.get("links") or {}).get("pages", {}).get("next"):
                return items
            page += 1


# --- labels as tags ---------------------------------------------------------------------


def tags_for(labels: dict[str, str]) -> list[str]:
    """VMKit's labels as DigitalOcean tags: `vmkit.dev/instance=ins_1` → `vmkit_dev:instance:ins_1`.

    Tags allow only letters, digits, `:`, `-` and `_`, so a key's `/` becomes `:` and
    its `.` becomes `_`; the value follows the last `:`. `labels_of` reverses it,
    which is why keys may not hold `_` or `:` and values may not hold `:`.
    """
    tags = []
    for key, value in sorted(labels.items()):
        if "_" in key or ":" in key or ":" in value:
            raise ValueError(f"label {key}={value} cannot be a DigitalOcean tag")
        tag = f"{key.replace('/', ':').replace('.', '_')}:{value}"
        if not _TAG.match(tag):
            raise ValueError(f"label {key}={value} cannot be a DigitalOcean tag")
        tags.append(tag)
    return tags


def labels_of(tags: list[str]) -> dict[str, str]:
    """The labels `tags_for` wrote; other tags (the user's own) are left out."""
    labels = {}
    for tag in tags:
        key, sep, value = tag.rpartition(":")
        if sep and ":" in key:
            labels[key.replace(":", "/").replace("_", ".")] = value
    return labels


def _server(droplet: dict[str, Any]) -> Server:
    v4 = (droplet.get("networks") or {}).get("v4") or []
    ip = next((n["ip_address"] for n in v4 if n.get("type") == "public"), None)
    return Server(
        id=str(droplet["id"]),
        name=droplet["name"],
        status=droplet["status"],
        ip=ip,
        labels=labels_of(droplet.get("tags") or []),
        server_type=droplet.get("size_slug"),
    )


def _status_and_body(pipeline_response: Any, body: Any, _headers: Any) -> tuple[int, Any]:
    """pydo answers some 404s with the error body instead of raising; keep the status."""
    return pipeline_response.http_response.status_code, body


# --- errors and retries -----------------------------------------------------------------


@contextmanager
def _errors(what: str, asked: str = "") -> Iterator[None]:
    """Translate pydo's (azure-core's) exceptions into `ProviderError`, naming what was asked."""
    subject = f" ({asked})" if asked else ""
    try:
        yield
    except ClientAuthenticationError as exc:  # 401
        raise ProviderCredentialsRejected(
            f"DigitalOcean refused the API token: {_message(exc)}; "
            "create a token with read and write scopes and update the compute target",
            provider=PROVIDER,
        ) from exc
    except HttpResponseError as exc:
        status = exc.status_code or 0
        if status == 403:
            raise ProviderCredentialsRejected(
                f"DigitalOcean's token may not {what}{subject}: {_message(exc)}; "
                "give the token the droplet, action, size and region scopes",
                provider=PROVIDER,
            ) from exc
        raise ProviderError(
            f"DigitalOcean refused to {what}{subject}: {_message(exc)}",
            provider=PROVIDER,
            transient=status == 429 or status >= 500,
        ) from exc
    except AzureError as exc:  # could not connect, timed out, retries used up on the wire
        raise ProviderError(
            f"could not reach DigitalOcean to {what}{subject}: {type(exc).__name__}",
            provider=PROVIDER,
            transient=True,
        ) from exc


def _message(exc: HttpResponseError) -> str:
    """`message (id)` from DigitalOcean's error body, or the HTTP status line."""
    try:
        body = exc.response.json() if exc.response is not None else None
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("message"):
        return f"{body['message']} ({body.get('id') or exc.status_code})"
    return f"HTTP {exc.status_code} {exc.reason or ''}".strip()


class _RetryPolicy(RetryPolicy):
    """hcloud's retry policy in azure-core's terms (see the module docstring).

    azure-core's default would not retry a 429 on a POST (DigitalOcean sends no
    `Retry-After`, only `ratelimit-reset`) and would retry a 500 on one.
    """

    def __init__(self, backoff: float):
        super().__init__(
            retry_total=MAX_RETRIES,
            retry_connect=MAX_RETRIES,
            retry_read=MAX_RETRIES,
            retry_status=MAX_RETRIES,
            retry_backoff_factor=backoff,
            retry_backoff_max=BACKOFF_CAP_SECONDS,
        )

    def is_retry(self, settings: dict[str, Any], response: Any) -> bool:
        if not settings["total"]:
            return False
        status = response.http_response.status_code
        if status == 429:
            return True
        method = response.http_request.method.upper()
        return status in (500, 502, 503, 504) and method in IDEMPOTENT_METHODS

    def sleep(self, settings: dict[str, Any], transport: Any, response: Any = None) -> None:
        delay = self._until_reset(response)
        if delay is None:
            # Full jitter over backoff·2^(n-1), capped, n = attempts so far.
            attempt = max(1, len(settings["history"]))
            ceiling = min(settings["max_backoff"], settings["backoff"] * 2 ** (attempt - 1))
            delay = random.uniform(0, ceiling)  # noqa: S311 (jitter, not a secret)
        if delay > 0:
            transport.sleep(delay)

    @staticmethod
    def _until_reset(response: Any) -> float | None:
        """Seconds until `ratelimit-reset` on a 429, when that is within the backoff cap."""
        if response is None or response.http_response.status_code != 429:
            return None
        try:
            reset = float(response.http_response.headers.get("ratelimit-reset", ""))
        except ValueError:
            return None
        wait = reset - time.time()
        return max(0.0, wait) if wait <= BACKOFF_CAP_SECONDS else None


class _AllowPlainHttpOnLoopback(SansIOHTTPPolicy):
    """azure-core sends a bearer token only over HTTPS. The local stack's simulator is
    plain HTTP on loopback, where nothing leaves the machine: allow that, and only that
    (`_is_loopback_http` decides when this policy is added at all)."""

    def on_request(self, request: Any) -> None:
        request.context["enforce_https"] = False


def _is_loopback_http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "http" and (parts.hostname or "") in _LOOPBACK
