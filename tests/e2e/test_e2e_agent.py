"""The agent on a sandbox VM, seen through VMKit's REST API and its WebSocket gateway."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import boto3
import pytest
import websockets

from tests.e2e.conftest import Local, ok
from vmkit_local.testing import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def vm(local: Local, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    app = local.new_app(tmp_path_factory.mktemp("agent-apps"), "agented")
    assert local.deploy_until_done(app)["status"] == "succeeded"
    env = ok(local.api.get(f"/api/environments/{app['env']['id']}"))
    instance = ok(local.api.get(f"/api/instances/{env['instance_id']}"))
    root = local.cloud.fleet.root_for_ip(instance["ip"])
    assert root is not None
    return {"app": app, "instance": instance, "root": root}


def _agent_env(root: Path) -> dict[str, str]:
    return dict(
        line.split("=", 1)
        for line in (root / "etc/vmkit/agent.env").read_text().splitlines()
        if line
    )


def test_the_agent_registered_and_reports_metrics(local: Local, vm):
    instance = ok(local.api.get(f"/api/instances/{vm['instance']['id']}"))
    assert instance["agent_connected"] is True and instance["agent_version"]
    assert instance["metrics"] and instance["metrics_stale"] is False
    assert instance["hardened_at"] is not None


def test_harden_left_the_vm_as_kamal_needs_it(local: Local, vm):
    root = vm["root"]
    assert any(line.startswith("kamal:") for line in (root / "etc/passwd").read_text().splitlines())
    docker = next(
        line for line in (root / "etc/group").read_text().splitlines() if line.startswith("docker:")
    )
    assert "kamal" in docker.split(":")[3].split(",")
    target = ok(local.api.get(f"/api/compute-targets/{local.target_id}"))
    assert target["deploy_public_key"] in (root / "home/kamal/.ssh/authorized_keys").read_text()
    sshd = (root / "etc/ssh/sshd_config.d/50-vmkit.conf").read_text()
    assert "PermitRootLogin no" in sshd and "PasswordAuthentication no" in sshd
    again = ok(local.api.post(f"/api/instances/{vm['instance']['id']}/harden"))
    assert again["changes"] == []  # idempotent


def test_logs_metrics_and_diagnose_through_rest(local: Local, vm):
    states = sorted((vm["root"] / "var/lib/vmkit-sandbox/containers").glob("*.json"))
    containers = [json.loads(p.read_text()) for p in states if not p.name.endswith(".config.json")]
    name = next(c["name"] for c in containers if c["state"] == "running")
    logs = ok(
        local.api.get(
            f"/api/instances/{vm['instance']['id']}/logs", params={"container": name, "lines": 50}
        )
    )
    assert logs["lines"] and all(set(line) == {"ts", "text"} for line in logs["lines"])
    missing = local.api.get(
        f"/api/instances/{vm['instance']['id']}/logs", params={"container": "nope"}
    )
    # not on the VM: the caller's to fix (a 404 naming it), not the VM failing (502)
    assert missing.status_code == 404 and "nope" in missing.json()["error"]["message"]
    assert missing.json()["error"]["code"] == "not_on_vm"
    metrics = ok(local.api.post(f"/api/instances/{vm['instance']['id']}/metrics"))
    assert {"cpu_pct", "mem_pct", "disk_pct", "container_count", "container_health"} <= set(metrics)
    assert metrics["container_health"].get(name) in {"healthy", "none", "starting"}
    diagnosis = ok(local.api.post(f"/api/instances/{vm['instance']['id']}/diagnose"))
    assert diagnosis["agent"]["version"] == vm["instance"]["agent_version"]


def test_a_connection_dropped_by_the_gateway_comes_back(local: Local, vm):
    from vmkit.deps import get_deps
    from vmkit.models import Instance

    deps = get_deps()
    record = deps.store.lookup(Instance, _instance_token_id(vm))
    assert record and record.connection_id
    gateway = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=local.stack.ws_management_url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    gateway.delete_connection(ConnectionId=record.connection_id)
    back = wait_for(
        lambda: (
            (r := deps.store.lookup(Instance, _instance_token_id(vm)))
            and r.agent_connected
            and r.connection_id != record.connection_id
            and r
        ),
        timeout=20,
    )
    assert back.connection_id != record.connection_id


def _instance_token_id(vm: dict[str, Any]) -> str:
    return _agent_env(vm["root"])["VMKIT_AGENT_TOKEN"].split("_")[1]


def test_bad_tokens_are_refused_at_connect(local: Local):
    async def connect(token: str) -> int:
        try:
            async with websockets.connect(
                local.stack.ws_url, additional_headers={"Authorization": f"Bearer {token}"}
            ):
                return 101
        except websockets.InvalidStatus as refused:
            return refused.response.status_code

    assert asyncio.run(connect("vmka_0123456789abcdef_" + "x" * 43)) in (401, 403)
    assert asyncio.run(connect("vmk_not_an_agent_token")) in (401, 403)


def test_one_instances_token_cannot_speak_for_another(local: Local, vm, tmp_path):
    other_app = local.new_app(tmp_path)
    assert local.deploy_until_done(other_app)["status"] == "succeeded"
    other_env = ok(local.api.get(f"/api/environments/{other_app['env']['id']}"))
    other_before = ok(local.api.get(f"/api/instances/{other_env['instance_id']}"))
    token = _agent_env(vm["root"])["VMKIT_AGENT_TOKEN"]

    async def impersonate() -> None:
        async with websockets.connect(
            local.stack.ws_url, additional_headers={"Authorization": f"Bearer {token}"}
        ) as ws:
            await ws.send(
                json.dumps(
                    {
                        "id": "x1",
                        "type": "event",
                        "method": "register",
                        "params": {
                            "instance_id": other_env["instance_id"],
                            "version": "evil",
                            "ip": "1.2.3.4",
                            "os": "x",
                            "arch": "x",
                        },
                    }
                )
            )
            await asyncio.sleep(
                0.5
            )  # the gateway handles the message after it arrives; nothing to await

    asyncio.run(impersonate())
    other_after = ok(local.api.get(f"/api/instances/{other_env['instance_id']}"))
    assert other_after["agent_version"] == other_before["agent_version"] != "evil"


def test_the_agent_upgrades_itself_and_comes_back_on_the_new_version(local: Local, vm, tmp_path):
    from vmkit.adapters.artifacts import publish_agent
    from vmkit_agent.build import build_agent

    # The test before impersonated this agent's token, which took its connection over;
    # the agent dials back in by itself (with backoff), and must be there to be upgraded.
    wait_for(
        lambda: ok(local.api.get(f"/api/instances/{vm['instance']['id']}"))["agent_connected"],
        timeout=60,
        what="the agent to reconnect",
    )
    build = build_agent(tmp_path / "next", version="99.0.0")
    publish_agent(
        local.stack.client("s3"),
        os.environ["AGENT_BUCKET"],
        build.path.read_bytes(),
        sha256=build.sha256,
        version=build.version,
    )
    answer = ok(local.api.post(f"/api/instances/{vm['instance']['id']}/upgrade-agent"))
    assert answer["status"] == "upgrading" and answer["version"] == "99.0.0"
    wait_for(
        lambda: (
            ok(local.api.get(f"/api/instances/{vm['instance']['id']}"))["agent_version"] == "99.0.0"
        ),
        timeout=30,
    )
    assert (
        ok(local.api.post(f"/api/instances/{vm['instance']['id']}/upgrade-agent"))["status"]
        == "current"
    )
