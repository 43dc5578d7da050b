"""The template's schedule fires on the local stack: the sweeper, running on its own,
fails a deploy whose execution vanished, and the environment deploys again.

The stack runs in a child process (as `vmkit local up`), its sweeper every second and
patient with a missing execution for a second, instead of every 5 minutes after 2.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.e2e.test_e2e_restart import (
    TERMINAL,
    Restartable,
    pr_opened,
    started_with_environment,
    succeeds,
)

pytestmark = pytest.mark.e2e

SWEEP_EVERY_S = 1.0


@pytest.fixture
def swept(tmp_path: Path) -> Iterator[Restartable]:
    world = Restartable(tmp_path, sweep_every_s=SWEEP_EVERY_S)
    yield world
    if world.stack is not None:
        assert world.stack.stop() == 0, world.stack.log()[-3000:]


def step_functions(world: Restartable) -> Any:
    assert world.stack is not None
    state = world.stack.state
    return boto3.client(
        "stepfunctions",
        endpoint_url=state["aws_endpoint_url"],
        region_name=state["region"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def stop_running_deploy_executions(world: Restartable) -> list[str]:
    """What an operator's `aws stepfunctions stop-execution` (or a lost one) leaves."""
    sfn = step_functions(world)
    (deploy_machine,) = [
        m["stateMachineArn"]
        for m in sfn.list_state_machines()["stateMachines"]
        if m["name"].endswith("-deploy")
    ]
    running = sfn.list_executions(stateMachineArn=deploy_machine, statusFilter="RUNNING")
    stopped = [e["executionArn"] for e in running["executions"]]
    for arn in stopped:
        sfn.stop_execution(executionArn=arn, error="Vanished", cause="stopped behind VMKit's back")
    return stopped


def test_the_scheduled_sweeper_fails_a_deploy_whose_execution_vanished(swept: Restartable):
    world = swept
    github, full_name, env = started_with_environment(world, "orphaned")
    deploy = world.deploy(env["id"])
    world.wait_deploy(deploy["id"], lambda d: d["status"] == "waiting_for_pr" and pr_opened(d))

    assert len(stop_running_deploy_executions(world)) == 1

    # Nothing but the schedule notices: no event will ever resume this deploy.
    failed = world.wait_deploy(deploy["id"], lambda d: d["status"] in TERMINAL, timeout=60)
    assert failed["status"] == "failed"
    assert failed["failure"]["step"] == "OpenOnboardingPR"
    # AWS reports a stopped execution ABORTED; moto 5.2.5 ends its token wait FAILED.
    assert re.fullmatch(
        r"its execution ended \((aborted|failed)\) before the deploy did; deploy again",
        failed["failure"]["reason"],
    )
    assert world.call("GET", f"/api/environments/{env['id']}")["active_deploy_id"] is None

    world.merge_onboarding_pr(github, full_name)
    succeeds(world, env["id"], reusing=None)
