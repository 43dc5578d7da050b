"""Credential rotation on the local stack, through REST: the VM's SSH check refuses the
old deploy key afterwards, and the WebSocket API refuses the old agent token."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.e2e.conftest import Local, ok
from vmkit_local.sandbox.ssh import SshDenied, check_ssh_login
from vmkit_local.testing import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def live(local: Local, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    app = local.new_app(tmp_path_factory.mktemp("apps"), "keyring")
    deploy = local.deploy_until_done(app)
    assert deploy["status"] == "succeeded", deploy
    env = ok(local.api.get(f"/api/environments/{app['env']['id']}"))
    instance = ok(local.api.get(f"/api/instances/{env['instance_id']}"))
    app.update(env=env, instance=instance, root=local.cloud.fleet.root_for_ip(instance["ip"]))
    return app


def _deploy_secret(local: Local, app: dict[str, Any]) -> str:
    """The `VMKIT_SSH_PRIVATE_KEY` value GitHub holds (what the runner gets)."""
    return local.cloud.github.actions._values[
        (app["repo"].full_name.lower(), "VMKIT_SSH_PRIVATE_KEY")
    ]


def test_a_deploy_key_rotation_leaves_the_vm_refusing_the_old_key(local: Local, live):
    old_key = _deploy_secret(local, live)
    check_ssh_login(live["root"], "kamal", [old_key])  # works before

    rotated = ok(
        local.api.post(
            f"/api/environments/{live['env']['id']}/rotate-credentials",
            json={"credential": "deploy_key"},
        )
    )

    assert rotated["status"] == "rotated" and rotated["public_key"].startswith("ssh-ed25519 ")
    new_key = _deploy_secret(local, live)
    assert new_key != old_key and "PRIVATE" not in str(rotated)
    with pytest.raises(SshDenied):
        check_ssh_login(live["root"], "kamal", [old_key])
    check_ssh_login(live["root"], "kamal", [new_key])
    again = local.wait(local.deploy(live["env"]["id"])["id"])  # deploys use the new key
    assert again["status"] == "succeeded", again
    audit = ok(local.api.get("/api/audit"))["items"]
    assert any(
        e["action"] == "environment.rotate_credentials"
        and e["details"]["credential"] == "deploy_key"
        for e in audit
    )


def test_an_agent_token_rotation_gets_the_old_token_refused_at_connect(local: Local, live):
    env_file = live["root"] / "etc/vmkit/agent.env"
    old_token = _token_in(env_file.read_text())

    rotated = ok(
        local.api.post(
            f"/api/environments/{live['env']['id']}/rotate-credentials",
            json={"credential": "agent_token"},
        )
    )

    assert rotated["status"] == "rotated", rotated
    new_token = _token_in(env_file.read_text())  # kept for the agent's restarts
    assert new_token != old_token and "vmka_" not in str(rotated)
    assert _connect_status(local, old_token) == 403  # API Gateway's answer to a Deny
    instance = ok(local.api.get(f"/api/instances/{live['instance']['id']}"))
    assert instance["agent_connected"]  # on the new token
    wait_for(lambda: "version" in local.get_app(live["env"]["url"]).text, timeout=10)
    metrics = ok(local.api.post(f"/api/instances/{live['instance']['id']}/metrics"))
    assert metrics["container_count"] >= 1  # the agent answers calls on the new connection


def test_rotating_an_unknown_credential_is_refused(local: Local, live):
    refused = local.api.post(
        f"/api/environments/{live['env']['id']}/rotate-credentials",
        json={"credential": "root_password"},
    )
    assert refused.status_code == 422


def _token_in(env_text: str) -> str:
    return next(
        line.split("=", 1)[1]
        for line in env_text.splitlines()
        if line.startswith("VMKIT_AGENT_TOKEN=")
    )


def _connect_status(local: Local, token: str) -> int:
    async def attempt() -> int:
        try:
            async with websockets.connect(
                local.stack.ws_url, additional_headers={"Authorization": f"Bearer {token}"}
            ):
                return 101
        except InvalidStatus as refused:
            return refused.response.status_code

    return asyncio.run(attempt())
