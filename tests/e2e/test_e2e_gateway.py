"""The local AWS: functions invoked through boto3, and the agents' WebSocket gateway."""

from __future__ import annotations

import asyncio
import json

import boto3
import pytest
import websockets

from tests.e2e.conftest import Local, ok
from vmkit import auth
from vmkit.deps import get_deps
from vmkit.ids import new_id
from vmkit.models import Instance, Provider

pytestmark = pytest.mark.e2e


def test_boto3_invokes_a_function_and_runs_its_handler(local: Local):
    client = local.stack.client("lambda")
    event = {
        "type": "REQUEST",
        "methodArn": "arn:aws:execute-api:us-east-1:123456789012:x/agents/$connect",
        "headers": {"Authorization": "Bearer vmka_0123456789abcdef_" + "x" * 43},
    }
    answer = client.invoke(
        FunctionName="vmkit-local-WsAuthorizerFunction", Payload=json.dumps(event).encode()
    )
    policy = json.loads(answer["Payload"].read())
    assert policy["policyDocument"]["Statement"][0]["Effect"] == "Deny"


def test_a_good_token_connects_and_receives_what_the_server_posts(local: Local, tmp_path):
    deps = get_deps()
    issued = auth.issue(auth.AGENT_TOKEN_PREFIX)
    env = local.new_app(tmp_path)["env"]
    instance = Instance(
        id=new_id("instance"),
        workspace_id=_workspace(local),
        environment_id=env["id"],
        compute_target_id=local.target_id,
        provider=Provider.local,
        server_type="cax11",
        region="fsn1",
        agent_token_id=issued.key_id,
        agent_verifier=issued.verifier,
    )
    deps.store.create(instance)
    posted = {"type": "call", "id": "c1", "method": "metrics_collect", "params": {}}

    async def session() -> dict:
        headers = {"Authorization": f"Bearer {issued.plaintext}"}
        async with websockets.connect(local.stack.ws_url, additional_headers=headers) as ws:
            await ws.send(
                json.dumps(
                    {
                        "id": "r1",
                        "type": "event",
                        "method": "register",
                        "params": {"instance_id": instance.id, "version": "test"},
                    }
                )
            )
            connection_id = await asyncio.to_thread(_connection_of, instance)
            gateway = boto3.client(
                "apigatewaymanagementapi",
                endpoint_url=local.stack.ws_management_url,
                region_name="us-east-1",
                aws_access_key_id="x",
                aws_secret_access_key="x",
            )
            await asyncio.to_thread(
                gateway.post_to_connection,
                ConnectionId=connection_id,
                Data=json.dumps(posted).encode(),
            )
            return json.loads(await asyncio.wait_for(ws.recv(), timeout=10))

    assert asyncio.run(session()) == posted


def _workspace(local: Local) -> str:
    return ok(local.api.get("/api/auth/me"))["workspace_id"]


def _connection_of(instance: Instance) -> str:
    from vmkit_local.testing import wait_for

    return wait_for(
        lambda: (
            (i := get_deps().store.find(Instance, instance.workspace_id, instance.id))
            and i.connection_id
        ),
        timeout=10,
    )
