"""DigitalOcean as a compute target on the local stack, through the public APIs.

The target holds the DigitalOcean simulator's token; VMKit's pydo adapter reaches the
simulator at DIGITALOCEAN_API_URL, and each Droplet boots a sandbox VM that runs the
rendered cloud-init and the real agent, as on Hetzner.

Resize goes through the adapter here: the REST size change (`PATCH
/api/environments/{id}` with its state machine) is issue 17's, built on the same
`resize_server` port method.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Local, ok
from tests.support.api import assert_error
from vmkit.adapters.digitalocean import DigitalOcean

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def do_target(local: Local) -> dict[str, Any]:
    return ok(
        local.api.post(
            "/api/compute-targets",
            json={
                "name": "digitalocean",
                "provider": "digitalocean",
                "token": local.cloud.digitalocean_token,
                "default_region": "fra1",
            },
        )
    )


def droplet(local: Local, droplet_id: str) -> dict[str, Any]:
    adapter = DigitalOcean(
        local.cloud.digitalocean_token, api_endpoint=local.cloud.urls["digitalocean"]
    )
    return adapter.client.droplets.get(int(droplet_id))["droplet"]


def until(condition, what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_a_bad_token_is_refused_and_nothing_is_stored(local: Local):
    before = ok(local.api.get("/api/compute-targets"))["items"]
    error = assert_error(
        local.api.post(
            "/api/compute-targets",
            json={"name": "typo", "provider": "digitalocean", "token": "dop_v1_not-the-token"},
        ),
        403,
        "invalid_provider_token",
    )
    assert "DigitalOcean refused the API token" in error["message"]
    assert "not-the-token" not in error["message"]
    assert ok(local.api.get("/api/compute-targets"))["items"] == before


def test_sizes_and_regions_digitalocean_does_not_offer_are_refused_at_creation(
    local: Local, do_target, tmp_path
):
    app = local.new_app(tmp_path, target_id=do_target["id"])
    assert app["env"]["server_type"] == "s-2vcpu-4gb" and app["env"]["region"] == "fra1"
    for extra, code, named in (
        ({"server_type": "cax11"}, "invalid_server_type", "cax11"),
        ({"region": "fsn1"}, "invalid_region", "fsn1"),
    ):
        error = assert_error(
            local.api.post(
                "/api/environments",
                json={
                    "repo_id": app["repo_id"],
                    "name": "staging",
                    "compute_target_id": do_target["id"],
                    **extra,
                },
            ),
            409,
            code,
        )
        assert named in error["message"] and "digitalocean" in error["message"]
        assert named not in error["details"]["offered"] and error["details"]["offered"]
    names = [
        e["name"] for e in ok(local.api.get(f"/api/environments?repo_id={app['repo_id']}"))["items"]
    ]
    assert names == ["production"]


def test_deploy_resize_and_teardown_on_digitalocean(local: Local, do_target, tmp_path):
    app = local.new_app(tmp_path, name="shop", target_id=do_target["id"])
    plan = ok(local.api.get(f"/api/environments/{app['env']['id']}/plan"))
    assert plan["monthly_cost_usd"] == 24.0
    deployed = local.deploy_until_done(app)
    assert deployed["status"] == "succeeded", deployed
    assert local.get_app(deployed["url"]).status_code == 200

    env = ok(local.api.get(f"/api/environments/{app['env']['id']}"))
    instance = ok(local.api.get(f"/api/instances/{env['instance_id']}"))
    assert instance["provider"] == "digitalocean" and instance["server_type"] == "s-2vcpu-4gb"
    made = droplet(local, instance["provider_server_id"])
    assert made["region"]["slug"] == "fra1" and made["size_slug"] == "s-2vcpu-4gb"
    assert f"vmkit_dev:instance:{instance['id']}" in made["tags"]
    assert local.cloud.cloudflare.resolve(env["hostname"]) == instance["ip"]
    assert "arch: amd64" in _repo_file(local, "acme/shop", "config/deploy.yml")  # x86-64 VMs

    # Resize (issue 17 puts this behind REST): the VM stops, changes size, comes back.
    adapter = DigitalOcean(
        local.cloud.digitalocean_token,
        api_endpoint=local.cloud.urls["digitalocean"],
        poll_interval=0.05,
    )
    vm = f"droplet-{instance['provider_server_id']}"
    agent_before = local.cloud.fleet.supervisor(vm).main_pid("vmkit-agent.service")
    resized = adapter.resize_server(instance["provider_server_id"], "s-4vcpu-8gb")
    assert resized.server_type == "s-4vcpu-8gb" and resized.ip == instance["ip"]
    assert (
        droplet(local, resized.id)["disk"] == 80
    )  # the disk was kept: a resize down stays possible
    agent_after = local.cloud.fleet.supervisor(vm).main_pid("vmkit-agent.service")
    assert agent_before and agent_after and agent_after != agent_before  # the VM was rebooted
    until(
        lambda: ok(local.api.get(f"/api/instances/{instance['id']}"))["agent_connected"],
        "the agent to reconnect after the resize",
    )
    until(lambda: _answers(local, deployed["url"]), "the app to serve again after the resize")

    teardown = local.api.delete(f"/api/environments/{env['id']}")
    assert teardown.status_code == 202
    assert local.wait(teardown.json()["id"])["status"] == "succeeded"
    assert adapter.get_server(resized.id) is None
    assert local.cloud.fleet.root_for_ip(instance["ip"]) is None
    assert local.cloud.cloudflare.resolve(env["hostname"]) is None
    assert ok(local.api.get(f"/api/instances/{instance['id']}"))["status"] == "destroyed"


def test_a_rate_limited_droplet_create_is_retried_and_the_deploy_succeeds(
    local: Local, do_target, tmp_path
):
    app = local.new_app(tmp_path, target_id=do_target["id"])
    local.cloud.digitalocean.faults.inject("/droplets", 429, times=1, method="POST", retry_after=0)
    deploy = local.deploy_until_done(app)
    assert deploy["status"] == "succeeded", deploy
    assert local.cloud.digitalocean.faults.pending() == []


def test_server_errors_past_the_retries_fail_the_deploy_clearly_then_a_retry_succeeds(
    local: Local, do_target, tmp_path
):
    app = local.new_app(tmp_path, target_id=do_target["id"])
    local.cloud.digitalocean.faults.inject("/droplets", 500, times=1000, method="POST")
    try:
        failed = local.deploy_until_done(app)
    finally:
        local.cloud.digitalocean.faults.clear()
    assert failed["status"] == "failed"
    assert failed["failure"]["step"] == "EnsureInstance"
    reason = failed["failure"]["reason"]
    assert "DigitalOcean refused to create a Droplet" in reason and "s-2vcpu-4gb" in reason
    env = ok(local.api.get(f"/api/environments/{app['env']['id']}"))
    assert env["active_deploy_id"] is None  # the environment is free again
    retried = local.wait(local.deploy(app["env"]["id"])["id"])
    assert retried["status"] == "succeeded", retried


def _repo_file(local: Local, full_name: str, path: str) -> str:
    from githubkit import AppInstallationAuthStrategy, GitHub

    github = local.cloud.github
    owner, name = full_name.split("/")
    auth = AppInstallationAuthStrategy(
        str(github.app_id), github.app_private_key_pem, github.installation_id(owner)
    )
    with GitHub(auth, base_url=local.cloud.urls["github"]) as client:
        content = client.rest.repos.get_content(owner, name, path).parsed_data
        return base64.b64decode(content.content).decode()


def _answers(local: Local, url: str) -> bool:
    try:
        return local.get_app(url).status_code == 200
    except (httpx.HTTPError, AssertionError):
        return False
