"""A local Hetzner Cloud API (the part VMKit uses), reached by hcloud's `api_endpoint`.

`Client(token, api_endpoint=f"{url}/v1")` talks to it as to api.hetzner.cloud:
servers (create/get/list/delete, power actions, `change_type`), server types, images, locations,
SSH keys and actions, with the API's JSON shapes, `meta.pagination`, label selectors,
error bodies and status codes. Creating a server calls the `boot` hook (the sandbox VM
runner), deleting it calls `destroy`, powering it off and on calls `power_off` and
`power_on` (the sandbox VM stops and boots again); actions are answered `running` and finish
right after the response, so `action.wait_until_finished()` sees the real lifecycle.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from ..clock import iso_offset, utc_now
from ..endpoint import Call, JsonApi, bearer_token
from ..faults import Fault, FaultInjector, app_with_faults
from ..hooks import BootHook, DestroyHook, MachineHook
from ..snapshot import JsonSnapshot
from . import catalog
from .errors import (
    HetznerError,
    invalid_input,
    json_error,
    not_found,
    unauthorized,
    uniqueness_error,
)
from .labels import parse_selector, validate_labels
from .resources import action_json, server_json, ssh_key_fingerprint, validate_server_name

API_PREFIX = "/v1"
MAX_USER_DATA = 32 * 1024
RATE_LIMIT = 3600
POWER_COMMANDS = {
    "poweron": ("start_server", "running"),
    "poweroff": ("stop_server", "off"),
    "shutdown": ("shutdown_server", "off"),
    "reboot": ("reboot_server", "running"),
    "reset": ("reset_server", "running"),
}


def _test_net_boot(server_id: int, name: str, user_data: str, labels: dict[str, str]) -> str:
    """Without a sandbox, servers get documentation addresses (TEST-NET-3)."""
    return f"203.0.113.{server_id % 254 + 1}"


class HetznerSimulator:
    """State and ASGI app of the simulated Hetzner Cloud API; serve `.app`."""

    def __init__(
        self,
        *,
        token: str,
        data_dir: Path | None = None,
        boot: BootHook | None = None,
        destroy: DestroyHook | None = None,
        power_off: MachineHook | None = None,
        power_on: MachineHook | None = None,
    ) -> None:
        """`token` is the only API token accepted. `data_dir` keeps `hetzner.json` so a
        restart keeps servers, keys and actions (never user data: it holds agent tokens).
        Without `boot`, servers get TEST-NET addresses and nothing runs."""
        self._token = token
        self._boot: BootHook = boot or _test_net_boot
        self._destroy: DestroyHook = destroy or (lambda server_id: None)
        self._power_off: MachineHook = power_off or (lambda server_id: None)
        self._power_on: MachineHook = power_on or (lambda server_id: None)
        self._lock = threading.RLock()
        self._snapshot = JsonSnapshot(data_dir / "hetzner.json" if data_dir else None)
        self._state = self._snapshot.load() or {
            "servers": {},
            "ssh_keys": {},
            "actions": {},
            "next_id": 1000,
        }
        self.faults = FaultInjector()
        self.app = self._build_app()

    # -- wiring -----------------------------------------------------------------

    def _build_app(self) -> Any:
        api = JsonApi(bad_json=json_error, authenticate=self._authenticate, prefix=API_PREFIX)
        table: list[tuple[str, list[str], Callable[[Call], Response]]] = [
            ("/servers", ["GET"], self._list_servers),
            ("/servers", ["POST"], self._create_server),
            ("/servers/{id}", ["GET"], self._get_server),
            ("/servers/{id}", ["DELETE"], self._delete_server),
            ("/servers/{id}/actions/{command}", ["POST"], self._server_action),
            ("/server_types", ["GET"], self._catalog_list(catalog.SERVER_TYPES, "server_types")),
            ("/server_types/{id}", ["GET"], self._catalog_get(catalog.SERVER_TYPES, "server_type")),
            ("/images", ["GET"], self._list_images),
            ("/images/{id}", ["GET"], self._catalog_get(catalog.IMAGES, "image")),
            ("/locations", ["GET"], self._catalog_list(catalog.LOCATIONS, "locations")),
            ("/locations/{id}", ["GET"], self._catalog_get(catalog.LOCATIONS, "location")),
            ("/ssh_keys", ["GET"], self._list_ssh_keys),
            ("/ssh_keys", ["POST"], self._create_ssh_key),
            ("/ssh_keys/{id}", ["GET"], self._get_ssh_key),
            ("/ssh_keys/{id}", ["PUT"], self._update_ssh_key),
            ("/ssh_keys/{id}", ["DELETE"], self._delete_ssh_key),
            ("/actions", ["GET"], self._list_actions),
            ("/actions/{id}", ["GET"], self._get_action),
        ]
        api.add_routes(table)
        return app_with_faults(
            api.routes,
            injector=self.faults,
            render=_render_fault,
            exception_handlers={404: _route_not_found, 405: _route_not_found},
            prefix=API_PREFIX,
        )

    def _authenticate(self, call: Call) -> None:
        token = bearer_token(call)
        if token is None or not secrets.compare_digest(token, self._token):
            raise unauthorized()

    def _save(self) -> None:
        self._snapshot.save(self._state)

    def _next_id(self) -> int:
        self._state["next_id"] += 1
        return self._state["next_id"]

    # -- servers ----------------------------------------------------------------

    def _create_server(self, call: Call) -> Response:
        body = _object_body(call)
        for field in ("name", "server_type", "image"):
            if body.get(field) is None:
                raise invalid_input(field, "Missing data for required field.")
        name = validate_server_name(body["name"])
        server_type = _one(catalog.SERVER_TYPES, body["server_type"], "server_type")
        location = _one(catalog.LOCATIONS, body.get("location", "fsn1"), "location")
        if location["name"] not in {loc["name"] for loc in server_type["locations"]}:
            raise invalid_input(
                "location",
                f"server type {server_type['name']} is not available in {location['name']}",
            )
        image = _image_for(body["image"], server_type["architecture"])
        labels = validate_labels(body.get("labels") or {})
        user_data = body.get("user_data") or ""
        if not isinstance(user_data, str) or len(user_data.encode()) > MAX_USER_DATA:
            raise invalid_input("user_data", f"Length must be at most {MAX_USER_DATA} bytes.")
        start = body.get("start_after_create", True) is not False

        with self._lock:
            ssh_key_ids = [
                self._ssh_key(ref, field="ssh_keys")["id"] for ref in _list_of(body, "ssh_keys")
            ]
            if any(server["name"] == name for server in self._state["servers"].values()):
                raise uniqueness_error("name")
            server_id = self._next_id()
            now = iso_offset(utc_now())
            create = action_json(self._next_id(), "create_server", [(server_id, "server")], now)
            next_actions = (
                [action_json(self._next_id(), "start_server", [(server_id, "server")], now)]
                if start
                else []
            )
            record = {
                "id": server_id,
                "name": name,
                "status": "initializing",
                "created": now,
                "server_type": server_type["name"],
                "image_id": image["id"],
                "location": location["name"],
                "labels": labels,
                "ssh_keys": ssh_key_ids,
                "ipv4": "0.0.0.0",  # noqa: S104 - replaced by the booted VM's address
                "ipv4_id": self._next_id(),
                "ipv6": f"2001:db8:{server_id:x}::/64",
                "ipv6_id": self._next_id(),
            }
            self._state["servers"][str(server_id)] = record  # reserves the name
            for action in (create, *next_actions):
                self._state["actions"][str(action["id"])] = action
            self._save()

        # Booting can take a moment; other calls (polling actions) must not wait on it.
        failure = None
        try:
            address = self._boot(server_id, name, user_data, dict(labels))
        except Exception as error:  # the hook's failure is the action's failure
            address = None
            failure = {"code": "server_error", "message": f"boot failed: {type(error).__name__}"}

        with self._lock:
            if address is None:
                record["status"] = "off"
            else:
                record["ipv4"] = address
            self._save()
            body_out = {
                "server": server_json(record),
                "action": dict(create),
                "next_actions": [dict(action) for action in next_actions],
                "root_password": None if ssh_key_ids else secrets.token_urlsafe(12),
            }
        final_status = "running" if start else "off"
        finish = BackgroundTask(
            self._finish,
            [create["id"], *(a["id"] for a in next_actions)],
            server_id,
            final_status,
            failure,
        )
        return JSONResponse(body_out, status_code=201, background=finish)

    def _finish(
        self,
        action_ids: list[int],
        server_id: int | None,
        server_status: str | None,
        failure: dict[str, str] | None = None,
    ) -> None:
        """Complete actions (after the response went out, as the real API does later)."""
        with self._lock:
            now = iso_offset(utc_now())
            for action_id in action_ids:
                action = self._state["actions"][str(action_id)]
                action.update(
                    status="error" if failure else "success",
                    progress=100,
                    finished=now,
                    error=failure,
                )
            server = self._state["servers"].get(str(server_id))
            if server is not None and server_status is not None and failure is None:
                server["status"] = server_status
            self._save()

    def _get_server(self, call: Call) -> Response:
        with self._lock:
            return JSONResponse({"server": server_json(self._server(call))})

    def _list_servers(self, call: Call) -> Response:
        with self._lock:
            servers = list(self._state["servers"].values())
        servers = _filter_labeled(servers, call)
        if names := call.query.getlist("name"):
            servers = [server for server in servers if server["name"] in names]
        if statuses := call.query.getlist("status"):
            servers = [server for server in servers if server["status"] in statuses]
        servers = _sorted(servers, call.query.getlist("sort"))
        return _paginated(call, "servers", [server_json(server) for server in servers])

    def _delete_server(self, call: Call) -> Response:
        with self._lock:
            server = self._server(call)
            action = action_json(
                self._next_id(), "delete_server", [(server["id"], "server")], iso_offset(utc_now())
            )
            self._state["actions"][str(action["id"])] = action
            self._save()
        failure = None
        try:
            self._destroy(server["id"])
        except Exception as error:
            failure = {"code": "server_error", "message": f"destroy failed: {type(error).__name__}"}
        with self._lock:
            if failure is None:
                self._state["servers"].pop(str(server["id"]), None)
            self._save()
        task = BackgroundTask(self._finish, [action["id"]], None, None, failure)
        return JSONResponse({"action": dict(action)}, background=task)

    def _server_action(self, call: Call) -> Response:
        command = call.path_params["command"]
        if command == "change_type":
            return self._change_type(call)
        if command not in POWER_COMMANDS:
            raise HetznerError(404, "not_found", f"action {command!r} not found")
        action_command, status = POWER_COMMANDS[command]
        with self._lock:
            server = self._server(call)
            action = action_json(
                self._next_id(), action_command, [(server["id"], "server")], iso_offset(utc_now())
            )
            self._state["actions"][str(action["id"])] = action
            self._save()
        task = BackgroundTask(self._power, [action["id"]], server["id"], status)
        return JSONResponse({"action": dict(action)}, status_code=201, background=task)

    def _power(self, action_ids: list[int], server_id: int, status: str) -> None:
        """The machine stops or starts (its agent goes away, or boots again), then the
        action finishes."""
        try:
            (self._power_off if status == "off" else self._power_on)(server_id)
        except Exception as error:
            failure = {"code": "action_failed", "message": f"{type(error).__name__}: {error}"}
            self._finish(action_ids, server_id, None, failure)
            return
        self._finish(action_ids, server_id, status)

    def _change_type(self, call: Call) -> Response:
        """`change_type`: only a stopped server; the disk stays unless `upgrade_disk`, and
        a type whose disk is smaller than the server's is refused (so a resize down is
        possible only back to a disk the server never outgrew)."""
        body = call.body if isinstance(call.body, dict) else {}
        name = body.get("server_type")
        if not isinstance(name, str):
            raise invalid_input("server_type", "server_type is required")
        new_type = _one(catalog.SERVER_TYPES, name, "server_type")
        with self._lock:
            server = self._server(call)
            if server["status"] != "off":
                raise HetznerError(422, "server_not_stopped", "server must be stopped")
            old_type = catalog.find(catalog.SERVER_TYPES, server["server_type"])[0]
            disk = server.get("primary_disk_size") or old_type["disk"]
            if new_type["disk"] < disk:
                raise invalid_input(
                    "server_type",
                    f"server type {name} has a {new_type['disk']} GB disk, smaller than the "
                    f"server's {disk} GB",
                )
            if new_type["architecture"] != old_type["architecture"]:
                raise invalid_input("server_type", f"server type {name} has another architecture")
            action = action_json(
                self._next_id(),
                "change_server_type",
                [(server["id"], "server")],
                iso_offset(utc_now()),
            )
            self._state["actions"][str(action["id"])] = action
            server["server_type"] = name
            server["primary_disk_size"] = new_type["disk"] if body.get("upgrade_disk") else disk
            self._save()
        task = BackgroundTask(self._finish, [action["id"]], server["id"], None)
        return JSONResponse({"action": dict(action)}, status_code=201, background=task)

    def _server(self, call: Call) -> dict[str, Any]:
        server = self._state["servers"].get(call.path_params["id"])
        if server is None:
            raise not_found("server", call.path_params["id"])
        return server

    # -- catalog ------------------------------------------------------------------

    def _catalog_list(self, items: list[dict[str, Any]], key: str) -> Callable[[Call], Response]:
        def list_items(call: Call) -> Response:
            selected = items
            if name := call.query.get("name"):
                selected = [item for item in selected if item["name"] == name]
            return _paginated(call, key, selected)

        list_items.__name__ = f"list_{key}"
        return list_items

    def _catalog_get(self, items: list[dict[str, Any]], key: str) -> Callable[[Call], Response]:
        def get_item(call: Call) -> Response:
            ident = call.path_params["id"]
            matches = [item for item in items if str(item["id"]) == ident]
            if not matches:
                raise not_found(key, ident)
            return JSONResponse({key: matches[0]})

        get_item.__name__ = f"get_{key}"
        return get_item

    def _list_images(self, call: Call) -> Response:
        images = catalog.IMAGES
        if name := call.query.get("name"):
            images = [image for image in images if image["name"] == name]
        if architecture := call.query.get("architecture"):
            images = [image for image in images if image["architecture"] == architecture]
        if types := call.query.getlist("type"):
            images = [image for image in images if image["type"] in types]
        return _paginated(call, "images", _filter_labeled(images, call))

    # -- ssh keys -------------------------------------------------------------------

    def _create_ssh_key(self, call: Call) -> Response:
        body = _object_body(call)
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise invalid_input("name", "Missing data for required field.")
        fingerprint = ssh_key_fingerprint(body.get("public_key"))
        labels = validate_labels(body.get("labels") or {})
        with self._lock:
            keys = self._state["ssh_keys"].values()
            if any(key["name"] == name for key in keys):
                raise uniqueness_error("name")
            if any(key["fingerprint"] == fingerprint for key in keys):
                raise uniqueness_error("public_key")
            key = {
                "id": self._next_id(),
                "name": name,
                "fingerprint": fingerprint,
                "public_key": body["public_key"].strip(),
                "labels": labels,
                "created": iso_offset(utc_now()),
            }
            self._state["ssh_keys"][str(key["id"])] = key
            self._save()
        return JSONResponse({"ssh_key": key}, status_code=201)

    def _list_ssh_keys(self, call: Call) -> Response:
        with self._lock:
            keys = list(self._state["ssh_keys"].values())
        if name := call.query.get("name"):
            keys = [key for key in keys if key["name"] == name]
        if fingerprint := call.query.get("fingerprint"):
            keys = [key for key in keys if key["fingerprint"] == fingerprint]
        return _paginated(
            call, "ssh_keys", _sorted(_filter_labeled(keys, call), call.query.getlist("sort"))
        )

    def _get_ssh_key(self, call: Call) -> Response:
        with self._lock:
            return JSONResponse({"ssh_key": self._ssh_key(call.path_params["id"])})

    def _update_ssh_key(self, call: Call) -> Response:
        body = _object_body(call)
        with self._lock:
            key = self._ssh_key(call.path_params["id"])
            if "name" in body:
                name = body["name"]
                if not isinstance(name, str) or not name:
                    raise invalid_input("name", "Name must be a non-empty string.")
                if any(
                    other["name"] == name and other["id"] != key["id"]
                    for other in self._state["ssh_keys"].values()
                ):
                    raise uniqueness_error("name")
                key["name"] = name
            if "labels" in body:
                key["labels"] = validate_labels(body["labels"])
            self._save()
            return JSONResponse({"ssh_key": key})

    def _delete_ssh_key(self, call: Call) -> Response:
        with self._lock:
            key = self._ssh_key(call.path_params["id"])
            del self._state["ssh_keys"][str(key["id"])]
            self._save()
        return Response(status_code=204)

    def _ssh_key(self, ref: Any, *, field: str | None = None) -> dict[str, Any]:
        """An SSH key by id (or, in a server's `ssh_keys`, by name)."""
        for key in self._state["ssh_keys"].values():
            if str(key["id"]) == str(ref) or (field and key["name"] == ref):
                return key
        if field:
            raise invalid_input(field, f"SSH key {ref!r} not found")
        raise not_found("ssh_key", ref)

    # -- actions ----------------------------------------------------------------------

    def _get_action(self, call: Call) -> Response:
        with self._lock:
            action = self._state["actions"].get(call.path_params["id"])
            if action is None:
                raise not_found("action", call.path_params["id"])
            return JSONResponse({"action": dict(action)})

    def _list_actions(self, call: Call) -> Response:
        ids = call.query.getlist("id")
        if not ids:
            raise invalid_input("id", "at least one action id is required")
        with self._lock:
            actions = [dict(self._state["actions"][i]) for i in ids if i in self._state["actions"]]
        if statuses := call.query.getlist("status"):
            actions = [action for action in actions if action["status"] in statuses]
        return _paginated(call, "actions", actions)


# -- helpers shared by the handlers ----------------------------------------------------


def _object_body(call: Call) -> dict[str, Any]:
    if not isinstance(call.body, dict):
        raise HetznerError(400, "invalid_input", "request body must be a JSON object")
    return call.body


def _list_of(body: dict[str, Any], field: str) -> list[Any]:
    value = body.get(field) or []
    if not isinstance(value, list):
        raise invalid_input(field, "Not a valid list.")
    return value


def _one(items: list[dict[str, Any]], ref: Any, field: str) -> dict[str, Any]:
    matches = catalog.find(items, ref)
    if not matches:
        raise invalid_input(field, f"{field} {ref!r} not found")
    return matches[0]


def _image_for(ref: Any, architecture: str) -> dict[str, Any]:
    """The image named `ref` for this architecture (names are shared across arches)."""
    matches = catalog.find(catalog.IMAGES, ref)
    if not matches:
        raise invalid_input("image", f"image {ref!r} not found")
    for image in matches:
        if image["architecture"] == architecture:
            return image
    raise invalid_input("image", f"image {ref!r} is not available for {architecture} servers")


def _filter_labeled(items: list[dict[str, Any]], call: Call) -> list[dict[str, Any]]:
    selector = call.query.get("label_selector")
    if not selector:
        return list(items)
    matches = parse_selector(selector)
    return [item for item in items if matches(item["labels"])]


def _sorted(items: list[dict[str, Any]], sorts: list[str]) -> list[dict[str, Any]]:
    ordered = sorted(items, key=lambda item: item["id"])
    for spec in reversed(sorts):
        field, _, direction = spec.partition(":")
        if field not in ("id", "name", "created"):
            raise invalid_input("sort", f"unsupported sort field {field!r}")
        ordered.sort(key=lambda item, field=field: item[field], reverse=direction == "desc")
    return ordered


def _int_param(call: Call, name: str, default: int, maximum: int) -> int:
    raw = call.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid_input(name, "Not a valid integer.") from None
    if not 1 <= value <= maximum:
        raise invalid_input(name, f"Must be between 1 and {maximum}.")
    return value


def _paginated(call: Call, key: str, items: list[dict[str, Any]]) -> Response:
    page = _int_param(call, "page", 1, 10**9)
    per_page = _int_param(call, "per_page", 25, 50)
    last_page = max(1, -(-len(items) // per_page))
    pagination = {
        "page": page,
        "per_page": per_page,
        "previous_page": page - 1 if page > 1 else None,
        "next_page": page + 1 if page < last_page else None,
        "last_page": last_page,
        "total_entries": len(items),
    }
    window = items[(page - 1) * per_page : page * per_page]
    return JSONResponse({key: window, "meta": {"pagination": pagination}})


def _render_fault(fault: Fault) -> Response:
    """Rate limits and server errors as Hetzner (and its load balancer) answer them."""
    if fault.status == 429:
        reset = int(utc_now().timestamp()) + fault.retry_after
        error = HetznerError(429, "rate_limit_exceeded", "limit of 3600 requests per hour reached")
        response = error.to_response()
        response.headers.update(
            {
                "RateLimit-Limit": str(RATE_LIMIT),
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": str(reset),
            }
        )
        return response
    if fault.status in (502, 504):
        # The load balancer answers before the API does: not JSON.
        reason = "Bad Gateway" if fault.status == 502 else "Gateway Time-out"
        return PlainTextResponse(f"{fault.status} {reason}", status_code=fault.status)
    codes = {403: "forbidden", 500: "server_error", 503: "unavailable"}
    return HetznerError(
        fault.status, codes.get(fault.status, "server_error"), "injected fault"
    ).to_response()


async def _route_not_found(request: Request, exc: Exception) -> Response:
    return HetznerError(404, "not_found", f"no route for {request.url.path}").to_response()
