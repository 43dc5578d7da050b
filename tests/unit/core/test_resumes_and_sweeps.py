"""What resumes or ends a deploy from outside: GitHub's webhooks, the agent's messages,
the sweeper, a cancel. Against the fakes, with duplicates and races."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.support.fakes import transient
from tests.unit.core.conftest import repository, run_payload, waiting_for_run
from vmkit import agentrpc
from vmkit.errors import Unauthenticated
from vmkit.models import DeployStatus, StepRecord, utcnow
from vmkit.ports import WorkflowRun
from vmkit.services import deploys, github_webhooks, outcomes, reconcile
from vmkit.services.onboarding import BRANCH

# --- webhooks --------------------------------------------------------------------------


def test_a_successful_run_resumes_its_deploy_once_even_if_delivered_twice(core, signed):
    deploy = waiting_for_run(core)
    first = signed("workflow_run", run_payload(core, deploy), delivery="d-1")
    assert first == {"status": "completed", "deploy_id": deploy.id, "conclusion": "success"}
    assert (
        signed("workflow_run", run_payload(core, deploy), delivery="d-1")["status"] == "duplicate"
    )
    assert signed("workflow_run", run_payload(core, deploy))["status"] == "already_completed"
    assert core.executions.resumed["tok-run"]["output"]["conclusion"] == "success"
    assert core.deploy(deploy.id).run_url.endswith("/runs/99")


def test_a_failed_run_fails_the_wait_with_a_reason_naming_the_log(core, signed):
    deploy = waiting_for_run(core)
    signed("workflow_run", run_payload(core, deploy, "failure"))
    outcome = core.executions.resumed["tok-run"]
    assert outcome["error"] == "WorkflowRunFailed" and "runs/99" in outcome["cause"]
    assert core.deploy(deploy.id).last_error.step == "DispatchWorkflow"


def test_a_run_naming_a_deploy_of_another_repo_is_ignored(core, signed):
    deploy = waiting_for_run(core)
    result = signed("workflow_run", run_payload(core, deploy, full_name="mallory/other"))
    assert result == {"status": "ignored", "event": "workflow_run"}
    assert "tok-run" not in core.executions.resumed


def test_a_bad_signature_is_refused_and_nothing_happens(core, signed):
    deploy = waiting_for_run(core)
    body = json.dumps(run_payload(core, deploy)).encode()
    with pytest.raises(Unauthenticated):
        github_webhooks.handle(
            core.deps,
            {
                "x-hub-signature-256": "sha256=" + "0" * 64,
                "x-github-event": "workflow_run",
                "x-github-delivery": "d-forged",
            },
            body,
        )
    assert core.executions.resumed == {}


def test_merging_the_onboarding_pr_resumes_the_deploy_waiting_for_it(core, signed):
    deploy = core.begin()
    core.step("OpenOnboardingPR", deploy, token="tok-pr")
    payload = {
        "action": "closed",
        "pull_request": {"number": 1, "merged": True, "head": {"ref": BRANCH}},
        "repository": repository(core),
        "installation": {"id": 7},
    }
    assert signed("pull_request", payload) == {"status": "merged", "resumed": [deploy.id]}
    assert signed("pull_request", payload) == {"status": "merged", "resumed": []}
    unmerged = {**payload, "pull_request": {"number": 1, "merged": False, "head": {"ref": BRANCH}}}
    assert signed("pull_request", unmerged)["status"] == "ignored"


# --- the agent's messages --------------------------------------------------------------


def test_a_message_on_an_unknown_connection_changes_nothing(core):
    deploy = core.begin()
    core.step("EnsureInstance", deploy)
    agentrpc.receive(core.deps, "conn-nobody", '{"type": "event", "method": "register"}')
    assert not core.instance().agent_connected


def test_heartbeats_refresh_last_seen_and_metrics(core):
    deploy = core.begin()
    core.step("EnsureInstance", deploy)
    core.connect_agent("conn-1")
    agentrpc.receive(
        core.deps,
        "conn-1",
        json.dumps(
            {"type": "event", "method": "heartbeat", "params": {"metrics": {"cpu_pct": 12.5}}}
        ),
    )
    instance = core.instance()
    assert instance.metrics == {"cpu_pct": 12.5} and instance.last_seen_at is not None


def test_a_chunked_logs_reply_is_reassembled_in_order(core):
    deploy = core.begin()
    core.step("EnsureInstance", deploy)
    core.connect_agent("conn-1")
    call_id = agentrpc.send(core.deps, core.instance(), "logs_fetch", {"container": "web"})
    for index in (1, 0):  # out of order
        agentrpc.receive(
            core.deps,
            "conn-1",
            json.dumps(
                {
                    "id": call_id,
                    "type": "result",
                    "chunk": {"index": index, "count": 2},
                    "result": {"lines": [{"ts": str(index), "text": f"part {index}"}]},
                }
            ),
        )
    answered = core.deps.store.calls.get(call_id)
    assert answered.state == "done"
    joined = agentrpc.assembled(core.deps, answered)
    assert [line["text"] for line in joined["lines"]] == ["part 0", "part 1"]


def test_a_disconnect_marks_the_agent_offline(core):
    deploy = core.begin()
    core.step("EnsureInstance", deploy)
    core.connect_agent("conn-1")
    agentrpc.forget_connection(core.deps, "conn-1")
    assert not core.instance().agent_connected


# --- the sweeper -----------------------------------------------------------------------


def overdue(core, deploy) -> None:
    record = core.deploy(deploy.id)
    record.deadline_at = utcnow() - timedelta(minutes=1)
    record.steps.append(StepRecord(name="WaitForAgent", status="waiting"))
    core.deps.store.save(record)


def test_an_overdue_deploy_is_stopped_failed_and_frees_its_environment(core):
    deploy = core.begin()
    overdue(core, deploy)
    assert reconcile.sweep(core.deps)["overdue_deploys"] == [deploy.id]
    after = core.deploy(deploy.id)
    assert after.status is DeployStatus.failed and "deadline" in after.failure.reason
    assert core.executions.stopped == {deploy.execution_arn: "DeadlineExceeded"}
    assert core.env().active_deploy_id is None
    assert reconcile.sweep(core.deps)["overdue_deploys"] == []


def test_a_run_whose_webhook_never_came_is_looked_up_and_resumes_the_deploy(core):
    deploy = waiting_for_run(core)
    record = core.deploy(deploy.id)
    record.updated_at = utcnow() - timedelta(minutes=10)
    core.deps.store.table.put({**core.deps.store._item(record), "version": record.version})
    core.forge.runs.append(
        WorkflowRun(99, f"vmkit deploy {deploy.id}", "completed", "success", "https://x/runs/99")
    )
    assert reconcile.sweep(core.deps)["runs_reconciled"] == [deploy.id]
    assert core.executions.resumed["tok-run"]["output"]["conclusion"] == "success"


def test_github_being_down_does_not_stop_the_sweep(core):
    deploy = waiting_for_run(core)
    record = core.deploy(deploy.id)
    record.updated_at = utcnow() - timedelta(minutes=10)
    core.deps.store.table.put({**core.deps.store._item(record), "version": record.version})
    core.forge.fail_next("find_run", transient("github"))
    result = reconcile.sweep(core.deps)
    assert result["runs_reconciled"] == [] and "tok-run" not in core.executions.resumed


def test_an_item_that_fails_is_logged_counted_and_the_sweep_goes_on(core):
    """As on AWS when the sweeper's artifact lacked githubkit: the lookup of one waiting
    run raised, and every later task of the sweep (silent agents) never ran."""
    deploy = waiting_for_run(core)
    record = core.deploy(deploy.id)
    record.updated_at = utcnow() - timedelta(minutes=10)
    core.deps.store.table.put({**core.deps.store._item(record), "version": record.version})
    instance = core.instance()
    stale = (utcnow() - timedelta(minutes=11)).isoformat()
    core.deps.store.set_fields(instance, last_seen_at=stale)
    core.forge.fail_next("find_run", ModuleNotFoundError("No module named 'githubkit'"))
    reconcile.metrics.clear_metrics()

    result = reconcile.sweep(core.deps)

    assert result["failed_items"] == [{"task": "runs_reconciled", "id": deploy.id}]
    assert result["silent_agents"] == [instance.id]
    assert core.instance().agent_connected is False
    assert reconcile.metrics.metric_set["SweepItemFailed"]["Value"] == [1.0]
    reconcile.metrics.clear_metrics()
    # The next sweep asks again, and the run resumes the deploy.
    core.forge.runs.append(
        WorkflowRun(99, f"vmkit deploy {deploy.id}", "completed", "success", "https://x/runs/99")
    )
    again = reconcile.sweep(core.deps)
    assert again["runs_reconciled"] == [deploy.id] and again["failed_items"] == []


# --- cancel, and its races -------------------------------------------------------------


def test_cancel_stops_the_execution_and_frees_the_environment(core):
    deploy = core.begin()
    cancelled = deploys.cancel_deploy(core.deps, core.principal, deploy.id)
    assert cancelled.status is DeployStatus.cancelled
    assert core.executions.stopped == {deploy.execution_arn: "Cancelled"}
    assert core.env().active_deploy_id is None
    core.step("MarkFailed", deploy, error={"Error": "States.Runtime", "Cause": ""})
    assert core.deploy(deploy.id).status is DeployStatus.cancelled  # stays cancelled


def test_a_cancel_that_loses_the_race_to_the_deploys_end_leaves_it_ended_and_free(core):
    deploy = core.begin()
    stale = core.deploy(deploy.id)  # what the cancel read
    core.step("MarkSucceeded", deploy)  # the execution ends first
    ended = outcomes.finish_deploy(core.deps, stale, DeployStatus.cancelled)
    assert ended.status is DeployStatus.succeeded
    assert core.deploy(deploy.id).status is DeployStatus.succeeded
    assert core.env().active_deploy_id is None


def test_a_second_start_while_one_runs_is_refused_with_the_active_deploys_id(core):
    from vmkit.errors import Conflict

    deploy = core.begin()
    with pytest.raises(Conflict) as refused:
        core.start()
    assert refused.value.code == "deploy_in_progress"
    assert refused.value.details == {"active_deploy_id": deploy.id}


def test_a_failed_start_fails_the_deploy_and_frees_the_environment(core):
    from vmkit.errors import ProviderError

    core.executions.fail_next("start", transient("stepfunctions"))
    with pytest.raises(ProviderError):
        core.start()
    (failed,) = deploys.list_deploys(core.deps, core.principal).items
    assert failed.status is DeployStatus.failed and failed.failure.step == "start"
    assert core.env().active_deploy_id is None
