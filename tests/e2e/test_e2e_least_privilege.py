"""Least privilege, checked against what the flows really call.

The local stack holds every function to its role (vmkit_local/core/iam.py), gives each
function its own warm state (vmkit.warm), and records each call a role allowed. Here
the product's flows run once from fresh execution environments (a cloud target, a
first deploy through onboarding onto it, a secret set, an agent asked for metrics and to upgrade, a
redeploy, the sweeper, a teardown, with the webhooks and the agents' WebSocket they
bring), and every role is held against the calls its function made: a function that
only read the table may not write it, and every statement of a role allowed some
call, or is listed below with the path that needs it and the test that takes it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Local, ok
from vmkit_local.core.iam import AllowedCall, FunctionRole

pytestmark = pytest.mark.e2e

DYNAMODB_READS = frozenset(
    {
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:DescribeTable",
        "dynamodb:ConditionCheckItem",
    }
)
# Functions that write the table only on paths these flows do not take.
WRITES_ELSEWHERE = {
    "ReconcileFunction": "fails overdue deploys, marks silent agents (test_e2e_schedules)",
}
# Statements no flow here reaches: (function, Sid) → the path that needs it.
RARE_PATHS = {
    ("ApiFunction", "CancelDeploys"): "cancelling a running deploy (test_e2e_deploy)",
    ("ReconcileFunction", "ReadGitHubAppKey"): "reconciling a run whose webhook never came",
    ("ReconcileFunction", "ResumeDeploys"): "resuming that run's deploy",
    ("ReconcileFunction", "StopOverdueAndFindLostDeploys"): "failing an overdue or lost "
    "deploy (test_e2e_schedules)",
}
# Functions the flows here do not run (each has e2e tests of its own).
NOT_RUN = {"MarkFailedFunction", "McpFunction", "ResizeInstanceFunction", "WebFunction"}


def statements(role: FunctionRole) -> list[dict[str, Any]]:
    return [statement for document in role.documents for statement in document["Statement"]]


def allows(statement: dict[str, Any], call: AllowedCall) -> bool:
    alone = FunctionRole(call.function, "one statement", ({"Statement": [statement]},))
    return alone.allows(call.action, call.resource)


def label(statement: dict[str, Any]) -> str:
    """Its Sid; a SAM policy template's statement has none, so its first action."""
    actions = statement["Action"]
    return statement.get("Sid") or (actions[0] if isinstance(actions, list) else actions)


def run_the_flows(local: Local, tmp_path: Path) -> None:
    """On a DigitalOcean target, whose sealed token the steps and the sweeper open."""
    target = ok(
        local.api.post(
            "/api/compute-targets",
            json={
                "name": "least privilege",
                "provider": "digitalocean",
                "token": local.cloud.digitalocean_token,
                "default_region": "fra1",
            },
        )
    )
    app = local.new_app(tmp_path, "least-privilege", target_id=target["id"])
    env_id = app["env"]["id"]
    assert local.deploy_until_done(app)["status"] == "succeeded"
    secret = {"set": [{"name": "API_TOKEN", "value": "s3cret-value", "secret": True}]}
    ok(local.api.patch(f"/api/environments/{env_id}/env-vars", json=secret))
    instance_id = ok(local.api.get(f"/api/environments/{env_id}"))["instance_id"]
    ok(local.api.post(f"/api/instances/{instance_id}/metrics"))
    ok(local.api.post(f"/api/instances/{instance_id}/upgrade-agent"))
    assert local.wait(local.deploy(env_id)["id"])["status"] == "succeeded"
    sweeper = local.stack.spec.physical("ReconcileFunction").ref
    event = (Path(__file__).parents[2] / "events" / "schedule-reconcile.json").read_bytes()
    swept = json.loads(local.stack.runtime.invoke(sweeper, event).payload)
    assert swept["failed_items"] == [], swept
    teardown = ok(local.api.delete(f"/api/environments/{env_id}"))
    assert local.wait(teardown["id"])["status"] == "succeeded"


def test_every_role_grants_what_the_flows_call_and_no_more(local: Local, tmp_path):
    iam = local.stack.iam
    local.stack.runtime.forget_warm_state()  # nothing fetched before counts as used
    with iam.recording() as calls:
        run_the_flows(local, tmp_path)
    made: dict[str, list[AllowedCall]] = defaultdict(list)
    for call in calls:
        made[call.function].append(call)
    assert set(iam.roles) - set(made) == NOT_RUN

    table = local.stack.spec.physical("Table").ref
    table_arn = f"arn:aws:dynamodb:{iam.account.region}:{iam.account.account_id}:table/{table}"
    only_read = {
        function
        for function, done in made.items()
        if {c.action for c in done if c.action.startswith("dynamodb:")} <= DYNAMODB_READS
    }
    may_write = {f for f in only_read if iam.roles[f].allows("dynamodb:PutItem", table_arn)}
    assert may_write - set(WRITES_ELSEWHERE) == set(), "only read the table: DynamoDBReadPolicy"
    assert "WsAuthorizerFunction" in only_read - may_write  # the read-only role, read-only

    unused = {
        (function, label(statement))
        for function, done in made.items()
        for statement in statements(iam.roles[function])
        if not any(allows(statement, call) for call in done)
    }
    assert sorted(unused - set(RARE_PATHS)) == [], "grants no flow used: remove or list them"
