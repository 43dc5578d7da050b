"""The Hetzner simulator through the real hcloud client."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hcloud import APIException, Client
from hcloud.actions import ActionFailedException
from hcloud.images import Image
from hcloud.locations import Location
from hcloud.server_types import ServerType

from vmkit_local.simulators.hetzner import HetznerSimulator

TOKEN = "hcloud-test-token"
USER_DATA = "#cloud-config\npackages: [docker.io]\n"


class RecordingHooks:
    def __init__(self, address: str = "127.0.0.7", fail_boot: bool = False) -> None:
        self.booted: list[tuple[int, str, str, dict[str, str]]] = []
        self.destroyed: list[int] = []
        self.address = address
        self.fail_boot = fail_boot

    def boot(self, server_id: int, name: str, user_data: str, labels: dict[str, str]) -> str:
        if self.fail_boot:
            raise RuntimeError("sandbox could not start")
        self.booted.append((server_id, name, user_data, labels))
        return self.address

    def destroy(self, server_id: int) -> None:
        self.destroyed.append(server_id)


@pytest.fixture
def hooks() -> RecordingHooks:
    return RecordingHooks()


@pytest.fixture
def sim(hooks: RecordingHooks, tmp_path: Path) -> HetznerSimulator:
    return HetznerSimulator(token=TOKEN, data_dir=tmp_path, boot=hooks.boot, destroy=hooks.destroy)


@pytest.fixture
def url(sim: HetznerSimulator, serve) -> str:
    return serve(sim.app) + "/v1"


@pytest.fixture
def client(url: str) -> Client:
    return Client(TOKEN, api_endpoint=url, poll_interval=0.01)


def create(client: Client, name: str = "web-1", **kwargs):
    options = {
        "server_type": ServerType(name="cax11"),
        "image": Image(name="ubuntu-24.04"),
        "location": Location(name="fsn1"),
        "user_data": USER_DATA,
        "labels": {"vmkit-env": "prod"},
    }
    return client.servers.create(name=name, **{**options, **kwargs})


def public_key() -> str:
    key = Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode() + " deploy@vmkit"


def error_of(call) -> APIException:
    with pytest.raises(APIException) as caught:
        call()
    return caught.value


def test_create_boots_the_server_with_its_user_data_and_the_action_completes(client, hooks):
    # When a server is created
    created = create(client)

    # Then the sandbox was asked to boot it with the user data and labels,
    assert hooks.booted == [(created.server.id, "web-1", USER_DATA, {"vmkit-env": "prod"})]
    # the answer carries the booted address and a running action, as on Hetzner,
    assert created.server.public_net.ipv4.ip == "127.0.0.7"
    assert created.server.status == "initializing"
    assert created.action.command == "create_server"
    assert created.action.status == "running"
    assert [action.command for action in created.next_actions] == ["start_server"]
    assert created.root_password  # no SSH key given
    # and waiting on the action ends in success with the server running.
    created.action.wait_until_finished()
    assert created.action.status == "success"
    server = client.servers.get_by_id(created.server.id)
    assert server.status == "running"
    assert server.server_type.name == "cax11"
    assert server.image.architecture == "arm"
    assert server.location.name == "fsn1"


def test_list_by_label_selector_and_name(client):
    create(client, "web-1", labels={"vmkit-env": "prod", "repo": "shop"})
    create(client, "web-2", labels={"vmkit-env": "staging", "repo": "shop"})
    create(client, "db-1", labels={"role": "db"})

    def names(**filters):
        return sorted(server.name for server in client.servers.get_all(**filters))

    assert names(label_selector="vmkit-env=prod") == ["web-1"]
    assert names(label_selector="repo=shop,vmkit-env!=prod") == ["web-2"]
    assert names(label_selector="vmkit-env in (prod,staging)") == ["web-1", "web-2"]
    assert names(label_selector="!repo") == ["db-1"]
    assert names(name="db-1") == ["db-1"]
    assert client.servers.get_by_name("nope") is None


def test_list_is_paginated_with_meta(client):
    for index in range(3):
        create(client, f"web-{index}")

    page, meta = client.servers.get_list(page=2, per_page=2)

    assert [server.name for server in page] == ["web-2"]
    assert meta.pagination.page == 2
    assert meta.pagination.previous_page == 1
    assert meta.pagination.next_page is None
    assert meta.pagination.last_page == 2
    assert meta.pagination.total_entries == 3


def test_delete_destroys_the_vm_and_the_server_is_gone(client, hooks):
    created = create(client)

    action = client.servers.delete(created.server)
    action.wait_until_finished()

    assert hooks.destroyed == [created.server.id]
    assert action.command == "delete_server"
    assert error_of(lambda: client.servers.get_by_id(created.server.id)).code == "not_found"


def test_power_actions_change_the_status(client):
    server = create(client).server

    server.power_off().wait_until_finished()
    assert client.servers.get_by_id(server.id).status == "off"
    server.power_on().wait_until_finished()
    reboot = server.reboot()
    reboot.wait_until_finished()
    assert reboot.command == "reboot_server"
    assert client.servers.get_by_id(server.id).status == "running"


def test_a_failing_boot_fails_the_create_action(serve):
    failing = RecordingHooks(fail_boot=True)
    sim = HetznerSimulator(token=TOKEN, boot=failing.boot)
    client = Client(TOKEN, api_endpoint=serve(sim.app) + "/v1", poll_interval=0.01)

    created = create(client)

    with pytest.raises(ActionFailedException) as caught:
        created.action.wait_until_finished()
    assert caught.value.action.error["code"] == "server_error"
    assert client.servers.get_by_id(created.server.id).status == "off"


def test_catalog_lists_arm_and_x86_types_with_prices(client):
    types = {server_type.name: server_type for server_type in client.server_types.get_all()}

    assert {"cax11", "cax21", "cax31", "cax41", "cpx11"} <= set(types)
    assert types["cax11"].architecture == "arm"
    assert types["cpx11"].architecture == "x86"
    fsn_price = next(price for price in types["cax11"].prices if price["location"] == "fsn1")
    assert float(fsn_price["price_monthly"]["net"]) > 0
    assert client.images.get_by_name_and_architecture("ubuntu-24.04", "x86").architecture == "x86"
    assert client.locations.get_by_name("ash").network_zone == "us-east"


def test_ssh_keys_crud_and_uniqueness(client):
    key = public_key()
    created = client.ssh_keys.create(name="deploy", public_key=key, labels={"vmkit": "1"})
    assert created.fingerprint.count(":") == 15
    assert client.ssh_keys.get_by_fingerprint(created.fingerprint).id == created.id

    same_name = error_of(lambda: client.ssh_keys.create(name="deploy", public_key=public_key()))
    assert same_name.code == "uniqueness_error"
    duplicate = error_of(lambda: client.ssh_keys.create(name="other", public_key=key))
    assert duplicate.code == "uniqueness_error"
    assert duplicate.details == {"fields": [{"name": "public_key"}]}

    created.update(name="deploy-2")
    assert client.ssh_keys.get_by_name("deploy-2").id == created.id
    server = create(client, ssh_keys=[created]).server
    assert server.id

    created.delete()
    assert client.ssh_keys.get_all() == []


def test_bad_inputs_get_invalid_input_with_the_field(client):
    unknown_type = error_of(lambda: create(client, server_type=ServerType(name="cx9000")))
    assert unknown_type.code == "invalid_input"
    assert unknown_type.details["fields"][0]["name"] == "server_type"

    arm_in_us = error_of(lambda: create(client, location=Location(name="ash")))
    assert arm_in_us.details["fields"][0]["name"] == "location"

    bad_name = error_of(lambda: create(client, name="not a hostname"))
    assert bad_name.details["fields"][0]["name"] == "name"

    too_big = error_of(lambda: create(client, user_data="x" * (32 * 1024 + 1)))
    assert too_big.details["fields"][0]["name"] == "user_data"

    bad_key = error_of(lambda: client.ssh_keys.create(name="k", public_key="ssh-ed25519 nope"))
    assert bad_key.details["fields"][0]["name"] == "public_key"

    bad_selector = error_of(lambda: client.servers.get_all(label_selector="a in (b"))
    assert bad_selector.details["fields"][0]["name"] == "label_selector"

    assert error_of(lambda: client.servers.get_list(per_page=51)).code == "invalid_input"


def test_raw_api_errors_have_the_hetzner_shape(url):
    auth = {"Authorization": f"Bearer {TOKEN}"}

    missing = httpx.post(f"{url}/servers", json={"server_type": "cax11"}, headers=auth)
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "invalid_input"
    assert missing.json()["error"]["details"]["fields"] == [
        {"name": "name", "messages": ["Missing data for required field."]}
    ]

    not_json = httpx.post(f"{url}/servers", content=b"{", headers=auth)
    assert (not_json.status_code, not_json.json()["error"]["code"]) == (400, "json_error")

    unknown = httpx.get(f"{url}/servers/424242", headers=auth)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"

    no_token = httpx.get(f"{url}/servers")
    assert no_token.status_code == 401
    assert no_token.json() == {
        "error": {"code": "unauthorized", "message": "unable to authenticate", "details": None}
    }


def test_a_wrong_token_is_refused(url):
    error = error_of(lambda: Client("wrong", api_endpoint=url).servers.get_all())
    assert error.code == "unauthorized"


def test_injected_rate_limit_carries_the_rate_limit_headers(sim, url):
    sim.faults.inject("/servers", 429, method="GET", retry_after=30)

    limited = httpx.get(f"{url}/servers", headers={"Authorization": f"Bearer {TOKEN}"})

    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert limited.headers["RateLimit-Limit"] == "3600"
    assert limited.headers["RateLimit-Remaining"] == "0"
    assert int(limited.headers["RateLimit-Reset"]) > 0
    assert sim.faults.pending() == []


def test_hcloud_retries_injected_rate_limits_and_gateway_errors(sim, client):
    # hcloud backs off 1 s and more between retries; the test only needs the decision.
    client._client._retry_interval_func = lambda retries: 0
    sim.faults.inject("/servers", 429, method="GET")
    sim.faults.inject("/servers", 502, method="GET")

    assert client.servers.get_all() == []
    assert sim.faults.pending() == []


def test_server_errors_that_are_not_transient_reach_the_caller(sim, client):
    sim.faults.inject("/servers/*", 503, times=2)
    server = create(client).server

    assert error_of(lambda: client.servers.get_by_id(server.id)).code == "unavailable"
    assert error_of(lambda: client.servers.get_by_id(server.id)).code == "unavailable"
    assert client.servers.get_by_id(server.id).name == "web-1"


def test_faults_can_be_injected_over_http(url, client):
    admin = url.removesuffix("/v1") + "/_sim/faults"
    assert httpx.post(admin, json={"route": "/ssh_keys", "status": 500}).status_code == 204
    assert httpx.post(admin, json={"route": "/x", "status": 200}).status_code == 400

    assert error_of(lambda: client.ssh_keys.get_all()).code == "server_error"
    assert client.ssh_keys.get_all() == []


def test_state_survives_a_restart(tmp_path, serve):
    first = HetznerSimulator(token=TOKEN, data_dir=tmp_path)
    client = Client(TOKEN, api_endpoint=serve(first.app) + "/v1", poll_interval=0.01)
    created = create(client)
    created.action.wait_until_finished()
    client.ssh_keys.create(name="deploy", public_key=public_key())

    restarted = HetznerSimulator(token=TOKEN, data_dir=tmp_path)
    client = Client(TOKEN, api_endpoint=serve(restarted.app) + "/v1")

    server = client.servers.get_by_id(created.server.id)
    assert (server.name, server.status) == ("web-1", "running")
    assert client.ssh_keys.get_by_name("deploy") is not None
    assert client.actions.get_by_id(created.action.id).status == "success"
    assert "#cloud-config" not in (tmp_path / "hetzner.json").read_text()  # user data holds tokens


def test_change_type_needs_a_stopped_server_keeps_the_disk_and_refuses_a_smaller_one(serve):
    powered: list[tuple[str, int]] = []
    sim = HetznerSimulator(
        token=TOKEN,
        boot=lambda *args: "127.0.0.7",
        power_off=lambda server_id: powered.append(("off", server_id)),
        power_on=lambda server_id: powered.append(("on", server_id)),
    )
    client = Client(TOKEN, api_endpoint=serve(sim.app) + "/v1", poll_interval=0.01)
    server = create(client).server

    running = error_of(lambda: server.change_type(ServerType(name="cax21"), upgrade_disk=False))
    assert running.code == "server_not_stopped"
    server.power_off().wait_until_finished()
    server.change_type(ServerType(name="cax21"), upgrade_disk=False).wait_until_finished()
    resized = client.servers.get_by_id(server.id)
    assert resized.server_type.name == "cax21" and resized.primary_disk_size == 40  # kept
    server.change_type(ServerType(name="cax11"), upgrade_disk=False).wait_until_finished()  # back
    server.change_type(ServerType(name="cax21"), upgrade_disk=True).wait_until_finished()
    assert client.servers.get_by_id(server.id).primary_disk_size == 80
    smaller = error_of(lambda: server.change_type(ServerType(name="cax11"), upgrade_disk=False))
    assert smaller.code == "invalid_input" and "smaller" in str(smaller.details)
    server.power_on().wait_until_finished()
    assert powered == [("off", server.id), ("on", server.id)]  # the machine went down and up
