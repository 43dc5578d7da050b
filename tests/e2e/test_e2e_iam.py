"""On the local stack every function's AWS calls are held to its own role from
template.yaml (vmkit_local/core/iam.py): the whole e2e suite runs that way, so each
flow it drives (deploy, teardown, upgrade-agent, the sweeper, webhooks, the agents'
WebSocket) proves its functions' policies allow what their code calls. Here, a
permission taken away makes the flow that needs it fail with AWS's AccessDenied.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Local, ok

pytestmark = pytest.mark.e2e


@pytest.fixture
def vmkit_log() -> Iterator[list[str]]:
    """What the functions log (Powertools' `vmkit` logger), tracebacks included."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(logging.Formatter().format(record))

    handler = Keep()
    logging.getLogger("vmkit").addHandler(handler)
    yield lines
    logging.getLogger("vmkit").removeHandler(handler)


@contextlib.contextmanager
def without_statement(local: Local, function: str, sid: str) -> Iterator[None]:
    """`function`'s role as if the template lacked the statement `sid`."""
    iam = local.stack.iam
    role = iam.roles[function]
    kept = tuple(
        {**doc, "Statement": [s for s in doc["Statement"] if s.get("Sid") != sid]}
        for doc in role.documents
    )
    assert kept != role.documents, f"{function} has no statement {sid}"
    iam.roles[function] = dataclasses.replace(role, documents=kept)
    try:
        yield
    finally:
        iam.roles[function] = role


def test_a_step_without_its_permission_fails_the_deploy_at_that_step(
    local: Local, tmp_path, vmkit_log
):
    app = local.new_app(tmp_path, "iam-harden")
    with without_statement(local, "HardenInstanceFunction", "CallAgents"):
        failed = local.deploy_until_done(app)
    assert failed["status"] == "failed"
    assert failed["failure"] == {
        "step": "HardenInstance",
        "reason": "internal error in HardenInstance",
    }
    logged = "\n".join(vmkit_log)
    assert "(ForbiddenException) when calling the PostToConnection operation" in logged
    assert "HardenInstanceFunction is not authorized to perform: execute-api:ManageConnections" in (
        logged
    )

    # With the template's own role, the same environment deploys.
    assert local.wait(local.deploy(app["env"]["id"])["id"])["status"] == "succeeded"


def test_the_rest_api_without_its_artifact_read_cannot_offer_an_agent_upgrade(
    local: Local, tmp_path, vmkit_log
):
    app = local.new_app(tmp_path, "iam-upgrade")
    assert local.deploy_until_done(app)["status"] == "succeeded"
    instance_id = ok(local.api.get(f"/api/environments/{app['env']['id']}"))["instance_id"]
    upgrade = f"/api/instances/{instance_id}/upgrade-agent"

    with without_statement(local, "ApiFunction", "OfferAgentBuild"):
        refused = local.api.post(upgrade)
    assert refused.status_code == 500, refused.text
    assert refused.json()["error"]["code"] == "internal_error"
    assert "not authorized" not in refused.text  # IAM's wording stays in the log
    logged = "\n".join(vmkit_log)
    assert "(AccessDenied) when calling the HeadObject operation" in logged
    assert "ApiFunction is not authorized to perform: s3:GetObject" in logged

    assert ok(local.api.post(upgrade))["status"] == "current"
