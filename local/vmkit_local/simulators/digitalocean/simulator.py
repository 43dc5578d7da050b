"""A local DigitalOcean API (the part VMKit uses), reached by pydo's `endpoint`.

`pydo.Client(token, endpoint=url)` talks to it as to api.digitalocean.com: Droplets
(create, get, list by tag, delete), Droplet actions (power, shutdown, reboot,
resize, rebuild), actions, sizes, regions and the account's SSH keys, with the API's
JSON shapes, pagination (`links.pages`, `meta.total`), error bodies (`{"id",
"message"}`) and statuses, and the `ratelimit-*` headers on every response.

Creating a Droplet calls the `boot` hook (the sandbox VM runner) and answers 202
with the Droplet `new` and a `create` action in progress; the action completes
right after the response, when the Droplet turns `active` with its public IPv4, so
a client polling the action sees the real lifecycle. Power actions, resize and
rebuild work the same way through the `power_off`, `power_on` and `rebuild` hooks.
Resizing needs the Droplet off, as on DigitalOcean; `disk: false` keeps the disk.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..clock import iso_seconds, utc_now
from ..endpoint import Call, JsonApi, bearer_token
from ..faults import Fault, FaultInjector, app_with_faults
from ..hooks import BootHook, DestroyHook, MachineHook
from ..snapshot import JsonSnapshot
from ..sshkeys import md5_fingerprint
from . import catalog
from .errors import DigitalOceanError, bad_json, not_found, unauthorized, unprocessable
from .resources import action_json, droplet_json, page_of, validate_name, validate_tags

API_PREFIX = "/v2"
MAX_USER_DATA = 64 * 1024
RATE_LIMIT = 5000  # requests per hour, as DigitalOcean documents
# Droplet action type → the status the Droplet has once it completes (None: unchanged).
ACTIONS: dict[str, str | None] = {
    "power_on": "active",
    "power_off": "off",
    "shutdown": "off",
    "reboot": "active",
    "power_cycle": "active",
    "resize": None,
    "rebuild": "active",
}


def _test_net_boot(server_id: int, name: str, user_data: str, labels: dict[str, str]) -> str:
    """Without a sandbox, Droplets get documentation addresses (TEST-NET-2)."""
    return f"198.51.100.{server_id % 254 + 1}"


def _nothing(server_id: int) -> None:
    return None


class DigitalOceanSimulator:
    """State and ASGI app of the simulated DigitalOcean API; serve `.app`."""

    def __init__(
        self,
        *,
        token: str,
        data_dir: Path | None = None,
        boot: BootHook | None = None,
        destroy: DestroyHook | None = None,
        power_off: MachineHook | None = None,
        power_on: MachineHook | None = None,
        rebuild: MachineHook | None = None,
    ) -> None:
        """`token` is the only API token accepted. `data_dir` keeps `digitalocean.json` so
        a restart keeps Droplets, keys and actions (never user data: it holds agent
        tokens). Without hooks, Droplets get TEST-NET addresses and nothing runs."""
        self._token = token
        self._boot: BootHook = boot or _test_net_boot
        self._destroy: DestroyHook = destroy or _nothing
        self._machine: dict[str, MachineHook] = {
            "power_off": power_off or _nothing,
            "power_on": power_on or _nothing,
            "rebuild": rebuild or _nothing,
        }
        self._lock = threading.RLock()
        self._snapshot = JsonSnapshot(data_dir / "digitalocean.json" if data_dir else None)
        self._state = self._snapshot.load() or {
            "droplets": {},
            "ssh_keys": {},
            "actions": {},
            "next_id": 400_000_000,
        }
        self.faults = FaultInjector()
        self.rate = RateWindow()
        self.app = self._build_app()

    # -- wiring -----------------------------------------------------------------

    def _build_app(self) -> ASGIApp:
        api = JsonApi(bad_json=bad_json, authenticate=self._authenticate, prefix=API_PREFIX)
        table: list[tuple[str, list[str], Callable[[Call], Response]]] = [
            ("/droplets", ["GET"], self._list_droplets),
            ("/droplets", ["POST"], self._create_droplet),
            ("/droplets/{id:int}", ["GET"], self._get_droplet),
            ("/droplets/{id:int}", ["DELETE"], self._delete_droplet),
            ("/droplets/{id:int}/actions", ["GET"], self._list_droplet_actions),
            ("/droplets/{id:int}/actions", ["POST"], self._post_droplet_action),
            ("/droplets/{id:int}/actions/{action_id:int}", ["GET"], self._get_droplet_action),
            ("/actions", ["GET"], self._list_actions),
            ("/actions/{action_id:int}", ["GET"], self._get_action),
            ("/sizes", ["GET"], lambda call: page_of(call, "sizes", catalog.SIZES)),
            ("/regions", ["GET"], lambda call: page_of(call, "regions", catalog.REGIONS)),
            ("/account/keys", ["GET"], self._list_keys),
            ("/account/keys", ["POST"], self._create_key),
            ("/account/keys/{ref}", ["GET"], self._get_key),
            ("/account/keys/{ref}", ["PUT"], self._update_key),
            ("/account/keys/{ref}", ["DELETE"], self._delete_key),
        ]
        api.add_routes(table)
        app = app_with_faults(
            api.routes,
            injector=self.faults,
            render=self._render_fault,
            exception_handlers={404: _route_not_found, 405: _route_not_found},
            prefix=API_PREFIX,
        )
        return RateLimitHeaders(app, self.rate)

    def _authenticate(self, call: Call) -> None:
        token = bearer_token(call)
        if token is None or not secrets.compare_digest(token, self._token):
            raise unauthorized()

    def _save(self) -> None:
        self._snapshot.save(self._state)

    def _next_id(self) -> int:
        self._state["next_id"] += 1
        return self._state["next_id"]

    # -- droplets ---------------------------------------------------------------

    def _create_droplet(self, call: Call) -> Response:
        body = _object_body(call)
        if "names" in body:
            raise unprocessable("this simulator creates one Droplet per request (send `name`)")
        name = validate_name(body.get("name"))
        size = catalog.size(body.get("size"))
        if size is None:
            raise unprocessable("You specified an invalid size for Droplet creation.")
        region = catalog.region(body.get("region"))
        if region is None or not region["available"]:
            raise unprocessable("You specified an invalid region for Droplet creation.")
        if size["slug"] not in region["sizes"]:
            raise unprocessable(f"Size {size['slug']} is not available in {region['slug']}.")
        image = catalog.image(body.get("image"))
        if image is None:
            raise unprocessable("You specified an invalid image for Droplet creation.")
        user_data = body.get("user_data") or ""
        if not isinstance(user_data, str) or len(user_data.encode()) > MAX_USER_DATA:
            raise unprocessable("user_data must be plain text of at most 64 KiB")
        tags = validate_tags(body.get("tags"))

        with self._lock:
            for ref in body.get("ssh_keys") or []:
                if self._key(ref) is None:
                    raise unprocessable(
                        "You specified invalid key identifiers for Droplet creation."
                    )
            droplet_id = self._next_id()
            now = iso_seconds(utc_now())
            record = {
                "id": droplet_id,
                "name": name,
                "status": "new",
                "size": size["slug"],
                "disk": size["disk"],
                "region": region["slug"],
                "image": image["slug"],
                "tags": tags,
                "created_at": now,
                "ipv4": None,  # assigned when the create action completes
                "vpc_uuid": f"00000000-0000-4000-8000-{droplet_id:012d}",
            }
            action = action_json(self._next_id(), "create", droplet_id, region["slug"], now)
            self._state["droplets"][str(droplet_id)] = record
            self._state["actions"][str(action["id"])] = action
            self._save()

        # Booting can take a moment; other calls (polling the action) must not wait on it.
        try:
            address: str | None = self._boot(droplet_id, name, user_data, dict.fromkeys(tags, ""))
        except Exception:  # the hook's failure is the action's failure
            address = None

        with self._lock:
            out = {
                "droplet": droplet_json(record),
                "links": {
                    "actions": [
                        {
                            "id": action["id"],
                            "rel": "create",
                            "href": f"{call.base_url}{API_PREFIX}/actions/{action['id']}",
                        }
                    ]
                },
            }
        finish = BackgroundTask(self._finish_create, action["id"], droplet_id, address)
        return JSONResponse(out, status_code=202, background=finish)

    def _finish_create(self, action_id: int, droplet_id: int, address: str | None) -> None:
        with self._lock:
            record = self._state["droplets"].get(str(droplet_id))
            if record is not None and address is not None:
                record.update(status="active", ipv4=address)
            self._complete(action_id, ok=record is not None and address is not None)

    def _get_droplet(self, call: Call) -> Response:
        with self._lock:
            return JSONResponse({"droplet": droplet_json(self._droplet(call))})

    def _list_droplets(self, call: Call) -> Response:
        with self._lock:
            droplets = [droplet_json(d) for d in self._state["droplets"].values()]
        if tag := call.query.get("tag_name"):
            droplets = [d for d in droplets if tag in d["tags"]]
        if name := call.query.get("name"):
            droplets = [d for d in droplets if d["name"] == name]
        return page_of(call, "droplets", sorted(droplets, key=lambda d: d["id"]))

    def _delete_droplet(self, call: Call) -> Response:
        with self._lock:
            droplet = self._droplet(call)
        try:
            self._destroy(droplet["id"])
        except Exception as error:
            raise DigitalOceanError(
                500, "server_error", f"Unexpected server-side error ({type(error).__name__})"
            ) from error
        with self._lock:
            self._state["droplets"].pop(str(droplet["id"]), None)
            self._save()
        return Response(status_code=204)

    def _droplet(self, call: Call) -> dict[str, Any]:
        droplet = self._state["droplets"].get(str(call.path_params["id"]))
        if droplet is None:
            raise not_found()
        return droplet

    # -- droplet actions --------------------------------------------------------------

    def _post_droplet_action(self, call: Call) -> Response:
        body = _object_body(call)
        kind = body.get("type")
        with self._lock:
            droplet = self._droplet(call)
            if kind not in ACTIONS:
                raise unprocessable(f"{kind!r} is not a Droplet action this simulator knows")
            if any(
                a["resource_id"] == droplet["id"] and a["status"] == "in-progress"
                for a in self._state["actions"].values()
            ):
                raise unprocessable("Droplet already has a pending event.")
            change = self._check_action(droplet, kind, body)
            action = action_json(
                self._next_id(), kind, droplet["id"], droplet["region"], iso_seconds(utc_now())
            )
            self._state["actions"][str(action["id"])] = action
            self._save()
            out = {"action": dict(action)}
        task = BackgroundTask(self._run_action, action["id"], droplet["id"], kind, change)
        return JSONResponse(out, status_code=201, background=task)

    def _check_action(self, droplet: dict[str, Any], kind: str, body: dict[str, Any]) -> dict:
        """What the action will change on the record; refuses what DigitalOcean refuses."""
        if kind == "resize":
            size = catalog.size(body.get("size"))
            if size is None:
                raise unprocessable("You specified an invalid size for Droplet resize.")
            region = catalog.region(droplet["region"])
            if region is None or size["slug"] not in region["sizes"]:
                raise unprocessable(f"Size {size['slug']} is not available in {droplet['region']}.")
            if droplet["status"] != "off":
                raise unprocessable(
                    "Droplet is currently on. Please power it off to run this event."
                )
            grow_disk = body.get("disk") is True
            if size["disk"] < droplet["disk"]:
                raise unprocessable(
                    f"Size {size['slug']} has a smaller disk ({size['disk']} GB) than the "
                    f"Droplet's ({droplet['disk']} GB); disks cannot shrink."
                )
            return {"size": size["slug"], "disk": size["disk"] if grow_disk else droplet["disk"]}
        if kind == "rebuild":
            image = catalog.image(body.get("image"))
            if image is None:
                raise unprocessable("You specified an invalid image for Droplet rebuild.")
            return {"image": image["slug"]}
        return {}

    def _run_action(self, action_id: int, droplet_id: int, kind: str, change: dict) -> None:
        """The action's work, after the response went out (the real API does it later too)."""
        steps = {
            "power_off": ["power_off"],
            "shutdown": ["power_off"],
            "power_on": ["power_on"],
            "reboot": ["power_off", "power_on"],
            "power_cycle": ["power_off", "power_on"],
            "rebuild": ["rebuild"],
            "resize": [],
        }[kind]
        try:
            for step in steps:
                self._machine[step](droplet_id)
        except Exception:
            ok = False
        else:
            ok = True
        with self._lock:
            record = self._state["droplets"].get(str(droplet_id))
            if record is not None and ok:
                record.update(change)
                if ACTIONS[kind] is not None:
                    record["status"] = ACTIONS[kind]
            self._complete(action_id, ok=ok and record is not None)

    def _complete(self, action_id: int, *, ok: bool) -> None:
        action = self._state["actions"][str(action_id)]
        action.update(status="completed" if ok else "errored", completed_at=iso_seconds(utc_now()))
        self._save()

    def _list_droplet_actions(self, call: Call) -> Response:
        with self._lock:
            droplet = self._droplet(call)
            actions = [
                dict(a)
                for a in self._state["actions"].values()
                if a["resource_id"] == droplet["id"]
            ]
        return page_of(call, "actions", sorted(actions, key=lambda a: -a["id"]))

    def _get_droplet_action(self, call: Call) -> Response:
        with self._lock:
            droplet = self._droplet(call)
            action = self._state["actions"].get(str(call.path_params["action_id"]))
            if action is None or action["resource_id"] != droplet["id"]:
                raise not_found()
            return JSONResponse({"action": dict(action)})

    def _get_action(self, call: Call) -> Response:
        with self._lock:
            action = self._state["actions"].get(str(call.path_params["action_id"]))
            if action is None:
                raise not_found()
            return JSONResponse({"action": dict(action)})

    def _list_actions(self, call: Call) -> Response:
        with self._lock:
            actions = [dict(a) for a in self._state["actions"].values()]
        return page_of(call, "actions", sorted(actions, key=lambda a: -a["id"]))

    # -- the account's SSH keys ----------------------------------------------------------

    def _create_key(self, call: Call) -> Response:
        body = _object_body(call)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise unprocessable("name is required")
        fingerprint = md5_fingerprint(body.get("public_key"))
        if fingerprint is None:
            raise unprocessable("Key invalid type, we support 'ssh-rsa', 'ssh-ed25519' …")
        with self._lock:
            if any(k["fingerprint"] == fingerprint for k in self._state["ssh_keys"].values()):
                raise unprocessable("SSH Key is already in use on your account")
            key = {
                "id": self._next_id(),
                "fingerprint": fingerprint,
                "public_key": body["public_key"].strip(),
                "name": name,
            }
            self._state["ssh_keys"][str(key["id"])] = key
            self._save()
        return JSONResponse({"ssh_key": key}, status_code=201)

    def _list_keys(self, call: Call) -> Response:
        with self._lock:
            keys = sorted(self._state["ssh_keys"].values(), key=lambda k: k["id"])
        return page_of(call, "ssh_keys", [dict(k) for k in keys])

    def _get_key(self, call: Call) -> Response:
        with self._lock:
            return JSONResponse({"ssh_key": dict(self._existing_key(call))})

    def _update_key(self, call: Call) -> Response:
        body = _object_body(call)
        with self._lock:
            key = self._existing_key(call)
            if "name" in body:
                if not isinstance(body["name"], str) or not body["name"].strip():
                    raise unprocessable("name must be a non-empty string")
                key["name"] = body["name"]
                self._save()
            return JSONResponse({"ssh_key": dict(key)})

    def _delete_key(self, call: Call) -> Response:
        with self._lock:
            key = self._existing_key(call)
            del self._state["ssh_keys"][str(key["id"])]
            self._save()
        return Response(status_code=204)

    def _key(self, ref: Any) -> dict[str, Any] | None:
        """A key by id or fingerprint, as the API accepts either."""
        for key in self._state["ssh_keys"].values():
            if str(ref) in (str(key["id"]), key["fingerprint"]):
                return key
        return None

    def _existing_key(self, call: Call) -> dict[str, Any]:
        key = self._key(call.path_params["ref"])
        if key is None:
            raise not_found()
        return key

    # -- faults ---------------------------------------------------------------------------

    def _render_fault(self, fault: Fault) -> Response:
        """Rate limits and server errors as DigitalOcean (and the edge in front of it) answer."""
        if fault.status == 429:
            error = DigitalOceanError(429, "too_many_requests", "API Rate limit exceeded.")
            response = error.to_response()
            response.headers.update(self.rate.headers(exhausted_for=fault.retry_after))
            return response
        if fault.status in (502, 504):
            # The edge answers before the API does: not JSON.
            reason = "Bad Gateway" if fault.status == 502 else "Gateway Timeout"
            return PlainTextResponse(f"{fault.status} {reason}", status_code=fault.status)
        if fault.status == 403:
            return DigitalOceanError(
                403, "forbidden", "You do not have access for the attempted action."
            ).to_response()
        return DigitalOceanError(
            fault.status, "server_error", "Unexpected server-side error"
        ).to_response()


class RateWindow:
    """DigitalOcean's hourly request quota, as the `ratelimit-*` headers report it."""

    def __init__(self, limit: int = RATE_LIMIT) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._started = time.time()
        self._used = 0

    def count(self) -> dict[str, str]:
        with self._lock:
            now = time.time()
            if now - self._started >= 3600:
                self._started, self._used = now, 0
            self._used += 1
            return self._headers(self.limit - self._used, self._started + 3600)

    def headers(self, *, exhausted_for: int) -> dict[str, str]:
        """The headers of a refused request: none left until `exhausted_for` seconds on."""
        return self._headers(0, time.time() + exhausted_for)

    def _headers(self, remaining: int, reset: float) -> dict[str, str]:
        return {
            "ratelimit-limit": str(self.limit),
            "ratelimit-remaining": str(max(0, remaining)),
            "ratelimit-reset": str(int(reset)),
        }


class RateLimitHeaders:
    """Adds the `ratelimit-*` headers to every API response that has none yet."""

    def __init__(self, app: ASGIApp, rate: RateWindow) -> None:
        self.app = app
        self.rate = rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        counted = self.rate.count()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [
                    (name.encode(), value.encode())
                    for name, value in counted.items()
                    if name.encode() not in present
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _object_body(call: Call) -> dict[str, Any]:
    if not isinstance(call.body, dict):
        raise DigitalOceanError(400, "bad_request", "request body must be a JSON object")
    return call.body


async def _route_not_found(request: Request, exc: Exception) -> Response:
    return not_found().to_response()
