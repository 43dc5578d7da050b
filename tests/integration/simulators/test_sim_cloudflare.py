"""The Cloudflare simulator through the real cloudflare SDK."""

from __future__ import annotations

import cloudflare
import httpx
import pytest
from cloudflare.types.dns.record_response import ARecord, CNAMERecord
from cloudflare.types.zones.zone import Zone

from vmkit_local.simulators.cloudflare import CloudflareSimulator

TOKEN = "cf-test-token"
ZONE = "apps.example.com"


@pytest.fixture
def sim(tmp_path) -> CloudflareSimulator:
    return CloudflareSimulator(token=TOKEN, zones=[ZONE, "other.example.org"], data_dir=tmp_path)


@pytest.fixture
def base_url(sim, serve) -> str:
    return serve(sim.app) + "/client/v4"


@pytest.fixture
def client(base_url) -> cloudflare.Cloudflare:
    return cloudflare.Cloudflare(api_token=TOKEN, base_url=base_url, max_retries=0)


@pytest.fixture
def zone_id(client) -> str:
    return client.zones.list(name=ZONE).result[0].id


def add_a(client, zone_id, name="shop-prod", content="127.0.0.1", **extra):
    return client.dns.records.create(
        zone_id=zone_id, name=name, type="A", content=content, ttl=extra.pop("ttl", 1), **extra
    )


def api_error(call) -> cloudflare.APIStatusError:
    with pytest.raises(cloudflare.APIStatusError) as caught:
        call()
    return caught.value


def codes(error: cloudflare.APIStatusError) -> list[int]:
    first = error.body["errors"][0]
    return [first["code"], *(link["code"] for link in first.get("error_chain", []))]


def test_zones_are_listed_by_name_in_the_real_shape(client, base_url):
    page = client.zones.list(name=ZONE)

    assert [zone.name for zone in page.result] == [ZONE]
    assert (page.result_info.page, page.result_info.per_page) == (1, 20)
    raw = httpx.get(
        f"{base_url}/zones/{page.result[0].id}", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert Zone.model_validate(raw.json()["result"]).status == "active"
    assert raw.json()["success"] is True and raw.json()["errors"] == []


def test_record_lifecycle_create_list_update_patch_delete(client, zone_id, base_url):
    # Given a new A record (a relative name is completed with the zone),
    created = add_a(client, zone_id, ttl=60, comment="vmkit deploy")
    assert created.name == f"shop-prod.{ZONE}"
    assert (created.content, created.ttl, created.proxied, created.proxiable) == (
        "127.0.0.1",
        60,
        False,
        True,
    )

    # it is found by the SDK's name and type filters,
    found = client.dns.records.list(zone_id=zone_id, name={"exact": f"shop-prod.{ZONE}"}, type="A")
    assert [record.id for record in found.result] == [created.id]
    assert found.result_info.total_count == 1
    assert client.dns.records.list(zone_id=zone_id, type="CNAME").result == []

    # a PUT replaces it, a PATCH changes only what it names,
    replaced = client.dns.records.update(
        created.id, zone_id=zone_id, name=f"shop-prod.{ZONE}", type="A", content="127.0.0.2", ttl=1
    )
    assert (replaced.content, replaced.ttl, replaced.comment) == ("127.0.0.2", 1, None)
    patched = client.dns.records.edit(
        created.id, zone_id=zone_id, name="shop-prod", type="A", ttl=300, proxied=True
    )
    assert (patched.content, patched.proxied, patched.ttl) == ("127.0.0.2", True, 1)

    # the wire shape is the API's,
    raw = httpx.get(
        f"{base_url}/zones/{zone_id}/dns_records/{created.id}",
        headers={"Authorization": f"Bearer {TOKEN}"},
    ).json()
    assert ARecord.model_validate(raw["result"]).created_on == created.created_on

    # and a delete answers with the id and makes it gone.
    assert client.dns.records.delete(created.id, zone_id=zone_id).id == created.id
    gone = api_error(lambda: client.dns.records.get(created.id, zone_id=zone_id))
    assert (gone.status_code, codes(gone)) == (404, [81044])


def test_an_identical_record_is_refused_with_81058(client, zone_id):
    add_a(client, zone_id)

    duplicate = api_error(lambda: add_a(client, zone_id))

    assert isinstance(duplicate, cloudflare.BadRequestError)
    assert duplicate.body["errors"] == [
        {"code": 81058, "message": "An identical record already exists."}
    ]
    assert add_a(client, zone_id, content="127.0.0.9").content == "127.0.0.9"  # round robin is fine


def test_a_cname_cannot_share_its_name(client, zone_id):
    add_a(client, zone_id, name="www")

    clash = api_error(
        lambda: client.dns.records.create(
            zone_id=zone_id, name="www", type="CNAME", content="shop-prod.apps.example.com", ttl=1
        )
    )

    assert codes(clash) == [81053]
    cname = client.dns.records.create(
        zone_id=zone_id, name="docs", type="CNAME", content="shop-prod.apps.example.com", ttl=1
    )
    assert isinstance(cname, CNAMERecord)


def test_listing_is_paginated_and_filters_combine(client, zone_id):
    for index in range(7):
        add_a(client, zone_id, name=f"app-{index}")
    client.dns.records.create(zone_id=zone_id, name="_verify", type="TXT", content="token", ttl=1)

    page = client.dns.records.list(zone_id=zone_id, type="A", per_page=5, page=2, order="name")
    assert [record.name for record in page.result] == [f"app-{i}.{ZONE}" for i in (5, 6)]
    assert (page.result_info.count, page.result_info.total_count) == (2, 7)
    every = list(client.dns.records.list(zone_id=zone_id, per_page=5))
    assert len(every) == 8  # the SDK walks pages until an empty one
    starts = client.dns.records.list(zone_id=zone_id, name={"startswith": "app-1"})
    assert [record.name for record in starts.result] == [f"app-1.{ZONE}"]


@pytest.mark.parametrize(
    ("fields", "expected_codes"),
    [
        ({"type": "A", "name": "x", "content": "300.1.1.1", "ttl": 1}, [9005]),
        ({"type": "AAAA", "name": "x", "content": "127.0.0.1", "ttl": 1}, [9006]),
        ({"type": "A", "name": "x", "content": "127.0.0.1", "ttl": 5}, [1004, 9021]),
        ({"type": "BOGUS", "name": "x", "content": "y", "ttl": 1}, [1004, 9020]),
        ({"type": "TXT", "name": "x", "content": "y", "ttl": 1, "proxied": True}, [1004, 9004]),
        ({"type": "CNAME", "name": "x", "content": "1.2.3.4", "ttl": 1}, [1004, 9007]),
        ({"type": "A", "name": "bad name!", "content": "127.0.0.1", "ttl": 1}, [9000]),
        ({"type": "A", "content": "127.0.0.1", "ttl": 1}, [9000]),
    ],
)
def test_invalid_records_get_the_dns_validation_errors(base_url, zone_id, fields, expected_codes):
    response = httpx.post(
        f"{base_url}/zones/{zone_id}/dns_records",
        json=fields,
        headers={"Authorization": f"Bearer {TOKEN}"},
    )

    assert response.status_code == 400
    body = response.json()
    assert (body["success"], body["result"]) == (False, None)
    first = body["errors"][0]
    assert [first["code"], *(link["code"] for link in first.get("error_chain", []))] == (
        expected_codes
    )


def test_unknown_ids_routes_and_bodies(client, base_url, zone_id):
    unknown_zone = api_error(lambda: client.dns.records.list(zone_id="f" * 32))
    assert (unknown_zone.status_code, codes(unknown_zone)) == (404, [7003])

    auth = {"Authorization": f"Bearer {TOKEN}"}
    not_json = httpx.post(f"{base_url}/zones/{zone_id}/dns_records", content=b"{", headers=auth)
    assert (not_json.status_code, not_json.json()["errors"][0]["code"]) == (400, 6007)
    no_route = httpx.get(f"{base_url}/nothing/here", headers=auth)
    assert (no_route.status_code, no_route.json()["errors"][0]["code"]) == (400, 7000)


def test_authentication_errors(base_url):
    def zones_with(token):
        return cloudflare.Cloudflare(api_token=token, base_url=base_url, max_retries=0).zones.list

    assert codes(api_error(zones_with("x" * 40))) == [10000]
    assert api_error(zones_with("x" * 40)).status_code == 403
    assert codes(api_error(zones_with("short"))) == [6003, 6111]
    missing = httpx.get(f"{base_url}/zones")
    assert (missing.status_code, missing.json()["errors"][0]["code"]) == (400, 9106)


def test_injected_rate_limit_and_edge_errors(sim, client, base_url, zone_id):
    sim.faults.inject("/zones/*/dns_records", 429, retry_after=7)
    limited = api_error(lambda: client.dns.records.list(zone_id=zone_id))
    assert isinstance(limited, cloudflare.RateLimitError)
    assert limited.response.headers["Retry-After"] == "7"
    assert codes(limited) == [971]

    sim.faults.inject("/zones", 502, method="GET")
    edge = api_error(lambda: client.zones.list())
    assert isinstance(edge, cloudflare.InternalServerError)
    assert edge.response.headers["content-type"].startswith("text/html")


def test_the_sdk_retries_an_injected_rate_limit(sim, base_url, zone_id):
    sim.faults.inject("/zones/*/dns_records", 429, method="POST", retry_after=0)
    client = cloudflare.Cloudflare(api_token=TOKEN, base_url=base_url, max_retries=1)

    record = add_a(client, zone_id)

    assert record.name == f"shop-prod.{ZONE}"
    assert sim.faults.pending() == []


def test_records_survive_a_restart(tmp_path, serve):
    first = CloudflareSimulator(token=TOKEN, zones=[ZONE], data_dir=tmp_path)
    client = cloudflare.Cloudflare(api_token=TOKEN, base_url=serve(first.app) + "/client/v4")
    zone_id = client.zones.list(name=ZONE).result[0].id
    add_a(client, zone_id)

    again = CloudflareSimulator(token=TOKEN, zones=[ZONE], data_dir=tmp_path)
    client = cloudflare.Cloudflare(api_token=TOKEN, base_url=serve(again.app) + "/client/v4")

    assert client.zones.list(name=ZONE).result[0].id == zone_id
    assert [r.name for r in client.dns.records.list(zone_id=zone_id).result] == [
        f"shop-prod.{ZONE}"
    ]
