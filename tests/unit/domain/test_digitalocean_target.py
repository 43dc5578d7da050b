"""DigitalOcean next to Hetzner in the domain: targets, the catalog, validation, REST, MCP.

Clouds are the in-memory `clouds` fixture (tests/support/fakes.py); the
adapter itself is tested against the simulator (tests/integration/simulators).
"""

from __future__ import annotations

import vmkit.deps
from tests.support.api import assert_error
from tests.support.modules import imported_at_cold_start
from tests.unit.mcp.mcp_support import (
    error,
    mcp_url,  # noqa: F401 (a fixture)
    ok,
    run,
)
from vmkit.models import AuditEvent, ComputeTarget, Provider
from vmkit.settings import Settings

DO_TOKEN = "dop_v1_0123456789abcdef"


def do_target(client, token: str = DO_TOKEN, **extra):
    return client.post(
        "/api/compute-targets",
        json={"name": "do", "provider": "digitalocean", "token": token, **extra},
    )


def test_a_digitalocean_target_is_checked_with_its_token_and_stored(tenant, clouds):
    created = do_target(tenant.client, default_region="fra1")
    assert created.status_code == 201, created.text
    target = created.json()
    assert target["provider"] == "digitalocean" and target["default_region"] == "fra1"
    assert target["token_hint"] == "…cdef" and DO_TOKEN not in created.text
    assert clouds.checked() == [DO_TOKEN]  # decrypted and tried once, before it was stored


def test_a_bad_token_gets_a_422_that_says_so_and_nothing_is_stored(tenant, clouds, deps):
    clouds.reject(DO_TOKEN)
    error = assert_error(do_target(tenant.client), 403, "invalid_provider_token")
    assert "refused the API token" in error["message"] and DO_TOKEN not in error["message"]
    assert tenant.client.get("/api/compute-targets").json()["items"] == []
    assert deps.store.all(ComputeTarget, tenant.workspace_id) == []
    actions = [e.action for e in deps.store.all(AuditEvent, tenant.workspace_id)]
    assert "compute_target.create" not in actions


def test_a_new_token_is_checked_before_it_replaces_the_old_one(tenant, clouds):
    target = do_target(tenant.client).json()
    clouds.reject("dop_v1_revoked-one")
    patch = tenant.client.patch(
        f"/api/compute-targets/{target['id']}", json={"token": "dop_v1_revoked-one"}
    )
    assert_error(patch, 403, "invalid_provider_token")
    assert tenant.client.get(f"/api/compute-targets/{target['id']}").json()["token_hint"] == "…cdef"


def test_a_region_digitalocean_does_not_offer_is_refused_for_the_target(tenant, clouds):
    error = assert_error(do_target(tenant.client, default_region="fsn1"), 409, "invalid_region")
    assert "fsn1" in error["message"] and "nyc3" in error["message"]
    assert clouds.checked() == []  # refused before the provider was asked anything


def _repo(client) -> str:
    return client.post("/api/repos", json={"full_name": "acme/shop"}).json()["id"]


def test_environments_take_the_providers_default_size_and_refuse_others(tenant):
    target = do_target(tenant.client).json()
    repo_id = _repo(tenant.client)
    env = tenant.client.post(
        "/api/environments",
        json={"repo_id": repo_id, "name": "production", "compute_target_id": target["id"]},
    ).json()
    assert (env["server_type"], env["region"]) == ("s-2vcpu-4gb", "nyc3")
    for extra, code, named in (
        ({"server_type": "cax11"}, "invalid_server_type", "cax11"),
        ({"region": "hel1"}, "invalid_region", "hel1"),
    ):
        body = {"repo_id": repo_id, "name": "staging", "compute_target_id": target["id"], **extra}
        error = assert_error(tenant.client.post("/api/environments", json=body), 409, code)
        assert named in error["message"] and error["details"]["provider"] == "digitalocean"
    names = [e["name"] for e in tenant.client.get("/api/environments").json()["items"]]
    assert names == ["production"]


def test_moving_an_environment_to_another_provider_checks_its_size_and_region(tenant):
    hetzner = tenant.client.post(
        "/api/compute-targets", json={"name": "hz", "provider": "hetzner", "token": "hz-token-0001"}
    ).json()
    digitalocean = do_target(tenant.client).json()
    env = tenant.client.post(
        "/api/environments",
        json={
            "repo_id": _repo(tenant.client),
            "name": "production",
            "compute_target_id": hetzner["id"],
        },
    ).json()
    url = f"/api/environments/{env['id']}"
    moved = tenant.client.patch(url, json={"compute_target_id": digitalocean["id"]})
    assert_error(moved, 409, "invalid_server_type")  # cax11 is Hetzner's
    moved = tenant.client.patch(
        url,
        json={
            "compute_target_id": digitalocean["id"],
            "server_type": "s-1vcpu-2gb",
            "region": "sgp1",
        },
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["server_type"], moved.json()["region"]) == ("s-1vcpu-2gb", "sgp1")


def test_the_plan_prices_a_droplet_at_digitaloceans_list_price(tenant):
    target = do_target(tenant.client).json()
    env = tenant.client.post(
        "/api/environments",
        json={
            "repo_id": _repo(tenant.client),
            "name": "production",
            "compute_target_id": target["id"],
            "server_type": "s-4vcpu-8gb",
        },
    ).json()
    plan = tenant.client.get(f"/api/environments/{env['id']}/plan").json()
    assert plan["monthly_cost_usd"] == 48.0
    vm = next(c for c in plan["changes"] if c["resource"] == "VM")
    assert "amd64" in vm["detail"] and "digitalocean" in vm["detail"]


def test_the_catalog_lists_every_provider_with_sizes_regions_and_prices(tenant):
    catalog = tenant.client.get("/api/catalog")
    assert catalog.status_code == 200, catalog.text
    offers = {o["provider"]: o for o in catalog.json()["providers"]}
    assert set(offers) == {"hetzner", "digitalocean", "local"}
    do = offers["digitalocean"]
    assert do["default_server_type"] == "s-2vcpu-4gb" and do["default_region"] == "nyc3"
    entry = next(t for t in do["server_types"] if t["name"] == "s-2vcpu-4gb")
    assert (entry["vcpus"], entry["memory_gb"], entry["arch"], entry["monthly_usd"]) == (
        2,
        4,
        "amd64",
        24.0,
    )
    assert {"fra1", "sgp1", "syd1"} <= {r["name"] for r in do["regions"]}
    assert offers["hetzner"]["server_types"][0]["monthly_usd"] == 4.5
    assert all(t["monthly_usd"] == 0 for t in offers["local"]["server_types"])
    assert "digitalocean.com/pricing" in catalog.json()["prices"]
    assert_error(tenant.client.get("/api/catalog", headers={"Authorization": ""}), 401)


def test_deps_build_the_pydo_adapter_for_a_digitalocean_target(aws, monkeypatch):
    from vmkit.adapters.digitalocean import DigitalOcean

    # The `clouds` fixture stands in for the adapters; put the real factory back.
    monkeypatch.setattr(vmkit.deps.Deps, "_provider_compute", REAL_PROVIDER_COMPUTE)
    deps = vmkit.deps.Deps(
        Settings(DIGITALOCEAN_API_URL="http://127.0.0.1:9", PROVIDER_POLL_SECONDS=0.1)
    )
    target = ComputeTarget(
        id="tgt_x",
        workspace_id="ws_x",
        name="do",
        provider=Provider.digitalocean,
        default_region="nyc3",
    )
    compute = deps.compute(target)
    assert isinstance(compute, DigitalOcean) and compute.poll_interval == 0.1
    assert compute.client._client._base_url == "http://127.0.0.1:9"


REAL_PROVIDER_COMPUTE = vmkit.deps.Deps._provider_compute


def test_mcp_describes_both_providers(mcp_url, tenant):  # noqa: F811
    tools = {t.name: t for t in run(mcp_url, tenant.key, lambda c: c.list_tools()).tools}
    listing = tools["list_compute_targets"].description
    assert "hetzner" in listing and "digitalocean" in listing
    size = tools["create_environment"].input_schema["properties"]["server_type"]["description"]
    for expected in ("cax11", "s-2vcpu-4gb", "$24.00/month", "nyc3", "fsn1"):
        assert expected in size
    target = do_target(tenant.client).json()
    repo_id = _repo(tenant.client)
    created = ok(
        run(
            mcp_url,
            tenant.key,
            lambda c: c.call_tool(
                "create_environment",
                {"repo_id": repo_id, "name": "production", "compute_target_id": target["id"]},
            ),
        )
    )
    assert created["server_type"] == "s-2vcpu-4gb"
    refused = run(
        mcp_url,
        tenant.key,
        lambda c: c.call_tool(
            "create_environment",
            {
                "repo_id": repo_id,
                "name": "staging",
                "compute_target_id": target["id"],
                "server_type": "cax21",
            },
        ),
    )
    assert "s-2vcpu-4gb" in error(refused, "invalid_server_type")["message"]


def test_a_rest_cold_start_does_not_import_the_cloud_sdks():
    """pydo (azure-core) and hcloud load only when a compute target is used (the MCP
    function's probe is in tests/integration/mcp)."""
    modules = ("pydo", "azure.core", "hcloud", "vmkit.adapters.digitalocean")
    assert imported_at_cold_start("api", modules) == []
