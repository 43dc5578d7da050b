"""Plaintext credentials appear nowhere: not in DynamoDB, API responses or logs.

A canary provider token and a canary env secret are stored through the API, used
by every read route, then every table item, every response body and all captured
log output are searched for them.
"""

from __future__ import annotations

import json
import logging

import boto3
import pytest

from tests.conftest import TABLE
from tests.support.api import make_world
from vmkit import credentials
from vmkit.errors import DecryptionFailed
from vmkit.models import ComputeTarget, Environment

CANARY_TOKEN = "hcloud-CANARY-7c1f0d9a2b"
CANARY_SECRET = "envsecret-CANARY-51e8b2"


def test_canaries_never_leave_the_sealed_fields(tenant, deps, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    c = tenant.client
    world = make_world(tenant, token=CANARY_TOKEN)
    url = f"/api/environments/{world.environment_id}/env-vars"
    responses = [
        c.patch(
            url, json={"set": [{"name": "STRIPE_KEY", "value": CANARY_SECRET, "secret": True}]}
        ),
        c.get(f"/api/environments/{world.environment_id}"),
        c.get("/api/environments"),
        c.get(f"/api/compute-targets/{world.target_id}"),
        c.get("/api/compute-targets"),
        c.patch(f"/api/compute-targets/{world.target_id}", json={"name": "renamed"}),
        c.get("/api/audit"),
        c.post(
            "/api/environments",
            json={
                "repo_id": world.repo_id,
                "name": "staging",
                "compute_target_id": world.target_id,
                "env_vars": [{"name": "K", "value": CANARY_SECRET, "secret": True}],
            },
        ),
        # an error path that echoes input must not echo the secret either
        c.patch(url, json={"set": [{"name": "bad name", "value": CANARY_SECRET, "secret": True}]}),
        c.post(
            "/api/compute-targets", json={"name": "x", "provider": "nope", "token": CANARY_TOKEN}
        ),
    ]
    assert [r.status_code for r in responses[:8]] == [200] * 6 + [200, 201]
    assert [r.status_code for r in responses[8:]] == [422, 422]
    for resp in responses:
        assert CANARY_TOKEN not in resp.text and CANARY_SECRET not in resp.text

    items = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    dumped = json.dumps(items)
    assert CANARY_TOKEN not in dumped and CANARY_SECRET not in dumped
    assert "CANARY" not in dumped

    logs = caplog.text + capsys.readouterr().out
    assert CANARY_TOKEN not in logs and CANARY_SECRET not in logs

    # ...and yet both can be opened at the point of use
    target = deps.store.get(ComputeTarget, tenant.workspace_id, world.target_id)
    assert credentials.provider_token(deps.sealer, target) == CANARY_TOKEN
    env = deps.store.get(Environment, tenant.workspace_id, world.environment_id)
    assert credentials.env_var_values(deps.sealer, env)["STRIPE_KEY"] == CANARY_SECRET


@pytest.fixture
def sealed(deps):
    return deps.sealer.seal(CANARY_SECRET, workspace_id="ws_a", record_id="env_a", kind="env_var:A")


def test_tampered_ciphertext_fails_with_a_clear_error(deps, sealed):
    import base64

    raw = bytearray(base64.b64decode(sealed.ct))
    raw[0] ^= 0x01
    tampered = sealed.model_copy(update={"ct": base64.b64encode(bytes(raw)).decode()})
    with pytest.raises(DecryptionFailed) as err:
        deps.sealer.open(tampered, workspace_id="ws_a", record_id="env_a", kind="env_var:A")
    assert "altered or does not belong to this record" in err.value.message
    assert CANARY_SECRET not in str(err.value)


@pytest.mark.parametrize(
    "context",
    [
        {"workspace_id": "ws_b", "record_id": "env_a", "kind": "env_var:A"},
        {"workspace_id": "ws_a", "record_id": "env_b", "kind": "env_var:A"},
        {"workspace_id": "ws_a", "record_id": "env_a", "kind": "env_var:B"},
    ],
    ids=["other workspace", "other record", "other variable"],
)
def test_a_ciphertext_moved_elsewhere_does_not_open(deps, sealed, context):
    with pytest.raises(DecryptionFailed):
        deps.sealer.open(sealed, **context)


def test_truncated_or_garbled_envelopes_fail_cleanly(deps, sealed):
    for broken in [
        sealed.model_copy(update={"nonce": "AAAA"}),
        sealed.model_copy(update={"edk": "not base64!"}),
        sealed.model_copy(update={"ct": ""}),
    ]:
        with pytest.raises(DecryptionFailed):
            deps.sealer.open(broken, workspace_id="ws_a", record_id="env_a", kind="env_var:A")


def test_each_seal_uses_a_fresh_data_key_and_nonce(deps):
    a = deps.sealer.seal("same", workspace_id="w", record_id="r", kind="k")
    b = deps.sealer.seal("same", workspace_id="w", record_id="r", kind="k")
    assert a.nonce != b.nonce and a.edk != b.edk and a.ct != b.ct
