"""Resize on the local stack: PATCH the size, the VM stops, changes type keeping its disk
and starts, the agent reconnects and the app answers; a provider failing mid-resize
leaves the app serving on the old size, with the reason, and a retry succeeds."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Local, ok

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def live(local: Local, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    app = local.new_app(tmp_path_factory.mktemp("apps"), "scales")
    deploy = local.deploy_until_done(app)
    assert deploy["status"] == "succeeded", deploy
    app["url"] = deploy["url"]
    return app


def _server(local: Local, instance: dict[str, Any]) -> dict[str, Any]:
    return local.cloud.hetzner._state["servers"][instance["provider_server_id"]]


def test_resizing_reboots_the_vm_on_the_new_size_and_the_app_comes_back(local: Local, live):
    env_id = live["env"]["id"]
    instance_id = ok(local.api.get(f"/api/environments/{env_id}"))["instance_id"]
    before = ok(local.api.get(f"/api/instances/{instance_id}"))
    patched = ok(local.api.patch(f"/api/environments/{env_id}", json={"server_type": "cax21"}))
    assert patched["server_type"] == "cax11" and patched["active_deploy_id"]

    resized = local.wait(patched["active_deploy_id"], timeout=60)

    assert resized["status"] == "succeeded", resized
    assert resized["action"] == "resize" and resized["resize_to"] == "cax21"
    env = ok(local.api.get(f"/api/environments/{env_id}"))
    assert env["server_type"] == "cax21" and env["monthly_cost_usd"] == 0.0  # local is free
    after = ok(local.api.get(f"/api/instances/{env['instance_id']}"))
    assert after["server_type"] == "cax21" and after["agent_connected"]
    assert after["id"] == before["id"] and after["ip"] == before["ip"]  # the same VM
    server = _server(local, after)
    assert server["server_type"] == "cax21" and server["primary_disk_size"] == 40  # disk kept
    assert "version 1.0.0" in local.get_app(live["url"]).text  # the app came back
    steps = [s["name"] for s in resized["steps"]]
    assert steps[:3] == ["LoadContext", "ResizeInstance", "WaitForAgent"]


def test_a_provider_failing_mid_resize_fails_with_the_reason_and_a_retry_succeeds(
    local: Local, live
):
    env_id = live["env"]["id"]
    local.cloud.hetzner.faults.inject(
        "/servers/*/actions/change_type", 503, times=100, method="POST"
    )
    try:
        started = ok(local.api.patch(f"/api/environments/{env_id}", json={"server_type": "cax31"}))
        failed = local.wait(started["active_deploy_id"], timeout=90)
    finally:
        local.cloud.hetzner.faults.clear()

    assert failed["status"] == "failed"
    assert failed["failure"]["step"] == "ResizeInstance"
    assert "resize" in failed["failure"]["reason"] and "cax31" in failed["failure"]["reason"]
    env = ok(local.api.get(f"/api/environments/{env_id}"))
    assert env["server_type"] == "cax21" and env["active_deploy_id"] is None
    assert (
        _server(local, ok(local.api.get(f"/api/instances/{env['instance_id']}")))["status"]
        == "running"
    )
    retried = local.wait(
        ok(local.api.patch(f"/api/environments/{env_id}", json={"server_type": "cax31"}))[
            "active_deploy_id"
        ],
        timeout=60,
    )
    assert retried["status"] == "succeeded", retried
    assert "version 1.0.0" in local.get_app(live["url"]).text


def test_a_size_the_provider_would_refuse_is_refused_before_anything_stops(local: Local, live):
    env_id = live["env"]["id"]
    refused = local.api.patch(f"/api/environments/{env_id}", json={"server_type": "s-2vcpu-4gb"})
    assert refused.status_code == 409 and "not offered" in refused.json()["error"]["message"]
    plan = local.api.get(f"/api/environments/{env_id}")
    assert ok(plan)["active_deploy_id"] is None
