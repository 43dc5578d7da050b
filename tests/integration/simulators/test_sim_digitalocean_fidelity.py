"""The DigitalOcean simulator answers as DigitalOcean's published OpenAPI description says.

Each response is validated against the vendored schema of that endpoint's response
(tests/fixtures/digitalocean_openapi), must carry the headers the description
declares, and may hold no key the description does not declare: a simulator that
drifts from the real API fails here rather than in production.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema.exceptions import best_match
from openapi_schema_validator import OAS30Validator

from vmkit_local.simulators.digitalocean import DigitalOceanSimulator

SPEC = json.loads(
    (Path(__file__).parents[2] / "fixtures/digitalocean_openapi/schemas.json").read_text()
)["responses"]
TOKEN = "dop_v1_fidelity"


@pytest.fixture
def api(serve, tmp_path) -> httpx.Client:
    sim = DigitalOceanSimulator(token=TOKEN, data_dir=tmp_path)
    client = httpx.Client(base_url=serve(sim.app), headers={"Authorization": f"Bearer {TOKEN}"})
    client.sim = sim  # type: ignore[attr-defined]
    return client


def conforms(name: str, response: httpx.Response) -> dict[str, Any]:
    """The response matches the description's `name` response: schema, headers, no extras."""
    spec = SPEC[name]
    body = response.json()
    error = best_match(OAS30Validator(spec["schema"]).iter_errors(body))
    assert error is None, f"{name}: {error.message[:300]} at {list(error.absolute_path)}"
    missing = [h for h in spec["headers"] if h not in response.headers]
    assert not missing, f"{name}: response lacks headers {missing}"
    extra = undeclared(body, spec["schema"])
    assert not extra, f"{name}: keys the description does not declare: {extra}"
    return body


def undeclared(instance: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Keys of `instance` that no branch of `schema` declares (free-form objects excepted)."""
    branches = _branches(schema)
    if isinstance(instance, dict):
        declared: dict[str, list[dict[str, Any]]] = {}
        for branch in branches:
            for key, sub in branch.get("properties", {}).items():
                declared.setdefault(key, []).append(sub)
        if not declared:
            return []
        found = []
        for key, value in instance.items():
            if key not in declared:
                found.append(f"{path}/{key}")
            else:
                found += undeclared(value, {"anyOf": declared[key]}, f"{path}/{key}")
        return found
    if isinstance(instance, list):
        items = [b["items"] for b in branches if "items" in b]
        return [
            miss
            for index, item in enumerate(instance)
            for miss in (undeclared(item, {"anyOf": items}, f"{path}/{index}") if items else [])
        ]
    return []


def _branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    found = [schema]
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(key, []):
            found += _branches(sub)
    return found


def create(api: httpx.Client, name: str, **extra: Any) -> httpx.Response:
    body = {
        "name": name,
        "region": "nyc3",
        "size": "s-2vcpu-4gb",
        "image": "debian-12-x64",
        "user_data": "#cloud-config\n",
        "tags": ["vmkit_dev:instance:ins_1"],
        **extra,
    }
    return api.post("/v2/droplets", json=body)


def completed(api: httpx.Client, action_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        action = api.get(f"/v2/actions/{action_id}").json()["action"]
        if action["status"] != "in-progress" or time.monotonic() > deadline:
            return action
        time.sleep(0.01)


def test_a_droplet_create_and_the_droplet_it_makes(api):
    answer = create(api, "web-1")
    assert answer.status_code == 202
    created = conforms("droplet_create", answer)
    assert created["droplet"]["status"] == "new" and created["droplet"]["networks"]["v4"] == []
    (link,) = created["links"]["actions"]
    assert link["rel"] == "create" and link["href"].endswith(f"/v2/actions/{link['id']}")
    action = completed(api, link["id"])
    assert action["status"] == "completed"
    droplet = conforms("droplet", api.get(f"/v2/droplets/{created['droplet']['id']}"))["droplet"]
    assert droplet["status"] == "active" and droplet["size_slug"] == "s-2vcpu-4gb"
    assert [n["type"] for n in droplet["networks"]["v4"]] == ["public"]


def test_actions_and_their_lists(api):
    droplet = create(api, "web-1").json()
    completed(api, droplet["links"]["actions"][0]["id"])
    droplet_id = droplet["droplet"]["id"]
    posted = api.post(f"/v2/droplets/{droplet_id}/actions", json={"type": "power_off"})
    assert posted.status_code == 201
    action = conforms("droplet_action", posted)["action"]
    assert action["type"] == "power_off" and action["resource_id"] == droplet_id
    assert (
        conforms("action", api.get(f"/v2/actions/{action['id']}"))["action"]["id"] == action["id"]
    )
    listed = conforms("droplet_actions", api.get(f"/v2/droplets/{droplet_id}/actions"))
    assert [a["type"] for a in listed["actions"]] == ["power_off", "create"]


def test_a_paginated_droplet_list(api):
    for index in range(3):
        create(api, f"web-{index}")
    middle = conforms("droplets", api.get("/v2/droplets", params={"per_page": 1, "page": 2}))
    assert middle["meta"]["total"] == 3 and len(middle["droplets"]) == 1
    pages = middle["links"]["pages"]
    assert set(pages) == {"first", "prev", "next", "last"}
    assert "page=3" in pages["last"] and "page=1" in pages["first"]
    last = conforms("droplets", api.get(pages["last"]))
    assert set(last["links"]["pages"]) == {"first", "prev"}
    whole = conforms("droplets", api.get("/v2/droplets"))
    assert whole["links"] == {} and len(whole["droplets"]) == 3


def test_sizes_regions_and_ssh_keys(api):
    sizes = conforms("sizes", api.get("/v2/sizes", params={"per_page": 2}))
    assert sizes["meta"]["total"] > 2 and "next" in sizes["links"]["pages"]
    entry = next(
        s
        for s in conforms("sizes", api.get("/v2/sizes", params={"per_page": 200}))["sizes"]
        if s["slug"] == "s-2vcpu-4gb"
    )
    assert entry["price_monthly"] == 24.0 and entry["vcpus"] == 2 and entry["memory"] == 4096
    regions = conforms("regions", api.get("/v2/regions"))["regions"]
    assert {"nyc3", "fra1", "sgp1"} <= {r["slug"] for r in regions if r["available"]}
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGqUd3RnYy3mK4n8lJz9c2QX0l4sJxJ5y0cQ8bq3L2cD deploy"
    created = api.post("/v2/account/keys", json={"name": "deploy", "public_key": key})
    assert created.status_code == 201
    conforms("ssh_key_new", created)
    assert conforms("ssh_keys", api.get("/v2/account/keys"))["meta"]["total"] == 1


def test_error_bodies(api):
    assert conforms("not_found", api.get("/v2/droplets/1"))["id"] == "not_found"
    refused = httpx.get(f"{api.base_url}/v2/droplets", headers={"Authorization": "Bearer nope"})
    assert refused.status_code == 401
    assert conforms("unauthorized", refused)["id"] == "unauthorized"
    bad = create(api, "web-1", size="cax11")
    assert bad.status_code == 422
    assert "invalid size" in conforms("unprocessable_entity", bad)["message"]
    api.sim.faults.inject("/droplets", 429, retry_after=30)
    limited = api.get("/v2/droplets")
    assert limited.status_code == 429 and limited.headers["ratelimit-remaining"] == "0"
    assert int(limited.headers["ratelimit-reset"]) >= time.time() + 25
    assert conforms("too_many_requests", limited)["id"] == "too_many_requests"
    api.sim.faults.inject("/droplets", 500)
    failed = api.get("/v2/droplets")
    assert failed.status_code == 500
    assert conforms("server_error", failed)["id"] == "server_error"
