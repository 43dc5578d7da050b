"""Releases and rollback against the fakes: what succeeded deploys record, and how a
rollback picks its release, runs as a deploy, and says why it failed."""

from __future__ import annotations

import pytest

from tests.support.fakes import transient
from vmkit.auth import Principal
from vmkit.errors import Conflict, Forbidden, InvalidInput, NotFound
from vmkit.models import DeployAction, DeployStatus, Interface, Scope
from vmkit.services import audit, releases
from vmkit.services.orchestration import WORKFLOW_PATH


def _ship(core, commit: str, *, action: DeployAction = DeployAction.deploy):
    """A deploy of `commit` (the branch head) that runs to MarkSucceeded."""
    core.forge.tree[WORKFLOW_PATH] = "name: vmkit deploy\n"
    core.forge.branches["main"] = commit
    deploy = core.begin(action)
    return _finish(core, deploy)


def _finish(core, deploy):
    core.step("EnsureInstance", deploy)
    if not core.instance().agent_connected:
        core.connect_agent()
    core.step("DispatchWorkflow", deploy, token=f"tok-{deploy.id}")
    core.step("MarkSucceeded", deploy)
    return core.deploy(deploy.id)


def _numbers(core) -> list[tuple[int, str]]:
    found = releases.list_releases(core.deps, core.principal, core.environment_id)
    return [(r.number, r.image_tag) for r in found]


def test_every_succeeded_deploy_records_a_numbered_release_newest_first(core):
    first = _ship(core, "1" * 40)
    second = _ship(core, "2" * 40)
    (newest, oldest) = releases.list_releases(core.deps, core.principal, core.environment_id)
    assert (newest.number, newest.commit_sha, newest.image_tag) == (2, "2" * 40, "2" * 40)
    assert (oldest.number, oldest.deploy_id, oldest.requested_by) == (1, first.id, "key:admin")
    assert newest.action is DeployAction.deploy and newest.deploy_id == second.id
    assert core.deploy(second.id).release_number == 2


def test_a_retried_mark_succeeded_records_no_second_release(core):
    deploy = _ship(core, "1" * 40)
    core.step("MarkSucceeded", deploy)  # Step Functions retries the task after a timeout
    assert _numbers(core) == [(1, "1" * 40)]


def test_a_failed_deploy_records_no_release(core):
    core.forge.tree[WORKFLOW_PATH] = "name: vmkit deploy\n"
    deploy = core.begin()
    core.step("MarkFailed", deploy, error={"Error": "States.TaskFailed", "Cause": ""})
    assert _numbers(core) == []


def test_rollback_defaults_to_the_previous_image_and_dispatches_its_version(core):
    _ship(core, "1" * 40)
    _ship(core, "2" * 40)
    plan = releases.plan_rollback(core.deps, core.principal, core.environment_id)
    assert (plan.release, plan.image_tag, plan.current_release) == (1, "1" * 40, 2)
    rollback = releases.start_rollback(core.deps, core.principal, core.environment_id)
    assert rollback.action is DeployAction.rollback and rollback.rollback_to == 1
    assert core.env().active_deploy_id == rollback.id  # one at a time, as any deploy
    core.step("LoadContext", rollback)
    assert core.deploy(rollback.id).commit_sha == "1" * 40  # the release's, not the head's
    done = _finish(core, rollback)
    *_, (workflow, ref, inputs) = core.forge.dispatched
    assert workflow == "vmkit-deploy.yml"
    assert inputs["version"] == "1" * 40 and ref == "main"
    assert done.status is DeployStatus.succeeded and done.release_number == 3
    (third, *_) = releases.list_releases(core.deps, core.principal, core.environment_id)
    assert (third.number, third.image_tag, third.rollback_of) == (3, "1" * 40, 1)
    assert third.action is DeployAction.rollback
    # the previous image, from the rolled-back state, is release 2's
    assert releases.plan_rollback(core.deps, core.principal, core.environment_id).release == 2
    events = audit.list_events(core.deps, core.principal).items
    assert any(e.action == "rollback.start" and e.details["release"] == 1 for e in events)


def test_a_named_release_is_rolled_back_to(core):
    for commit in ("1" * 40, "2" * 40, "3" * 40):
        _ship(core, commit)
    rollback = releases.start_rollback(core.deps, core.principal, core.environment_id, 1)
    assert (rollback.rollback_to, rollback.image_version) == (1, "1" * 40)


def test_a_normal_deploy_dispatches_no_version(core):
    _ship(core, "1" * 40)
    assert "version" not in core.forge.dispatched[-1][2]


def test_rollback_refusals_say_what_to_do(core):
    with pytest.raises(Conflict) as none:
        releases.start_rollback(core.deps, core.principal, core.environment_id)
    assert none.value.code == "no_release"
    _ship(core, "1" * 40)
    _ship(core, "1" * 40)  # a redeploy of the same commit: the same image
    with pytest.raises(Conflict) as only_one:
        releases.start_rollback(core.deps, core.principal, core.environment_id)
    assert only_one.value.code == "no_previous_release"
    with pytest.raises(InvalidInput) as current:
        releases.start_rollback(core.deps, core.principal, core.environment_id, 1)
    assert current.value.code == "release_is_current" and "runs now" in current.value.message
    with pytest.raises(NotFound) as unknown:
        releases.start_rollback(core.deps, core.principal, core.environment_id, 9)
    assert unknown.value.code == "release_not_found" and "/releases" in unknown.value.message
    assert core.env().active_deploy_id is None  # nothing started


def test_a_rollback_while_a_deploy_runs_is_refused_with_its_id(core):
    _ship(core, "1" * 40)
    _ship(core, "2" * 40)
    running = core.start()
    with pytest.raises(Conflict) as busy:
        releases.start_rollback(core.deps, core.principal, core.environment_id)
    assert busy.value.code == "deploy_in_progress"
    assert busy.value.details == {"active_deploy_id": running.id}


def test_scopes_and_environment_restrictions_apply(core):
    _ship(core, "1" * 40)
    _ship(core, "2" * 40)
    ws = core.principal.workspace_id
    reader = Principal(ws, "key:r", Scope.read, Interface.rest, key_id="r")
    assert len(releases.list_releases(core.deps, reader, core.environment_id)) == 2
    assert releases.plan_rollback(core.deps, reader, core.environment_id).release == 1
    with pytest.raises(Forbidden) as read_only:
        releases.start_rollback(core.deps, reader, core.environment_id)
    assert read_only.value.code == "insufficient_scope"
    elsewhere = Principal(
        ws, "key:e", Scope.deploy, Interface.rest, key_id="e", environment_ids=("env_other",)
    )
    for call in (releases.list_releases, releases.start_rollback):
        with pytest.raises(Forbidden) as restricted:
            call(core.deps, elsewhere, core.environment_id)
        assert restricted.value.code == "environment_not_allowed"


def test_a_failed_run_quotes_its_error_in_the_reason(core):
    _ship(core, "1" * 40)
    _ship(core, "2" * 40)
    rollback = releases.start_rollback(core.deps, core.principal, core.environment_id)
    core.step("LoadContext", rollback)
    core.step("DispatchWorkflow", rollback, token="tok-rb")
    core.deps.store.set_fields(core.deploy(rollback.id), workflow_run_id=77)
    gone = "the image ghcr.io/acme/invoicer:1111 is no longer in the registry (deleted or expired)"
    core.forge.errors[77] = [gone]
    core.deps.store.set_fields(
        core.deploy(rollback.id),
        last_error={"step": "DispatchWorkflow", "reason": "the run concluded 'failure'"},
    )
    core.step("MarkFailed", rollback, error={"Error": "WorkflowRunFailed", "Cause": ""})
    failed = core.deploy(rollback.id)
    assert failed.status is DeployStatus.failed
    assert failed.failure.reason.startswith(gone) and "concluded 'failure'" in failed.failure.reason
    assert _numbers(core)[0][0] == 2  # no release for the failed rollback


def test_when_github_cannot_say_why_the_reason_stays_the_conclusion(core):
    core.forge.tree[WORKFLOW_PATH] = "name: vmkit deploy\n"
    deploy = core.begin()
    core.deps.store.set_fields(
        core.deploy(deploy.id),
        workflow_run_id=78,
        last_error={"step": "DispatchWorkflow", "reason": "the run concluded 'failure'"},
    )
    core.forge.fail_next("run_errors", transient("github"))
    core.step("MarkFailed", deploy, error={"Error": "WorkflowRunFailed", "Cause": ""})
    assert core.deploy(deploy.id).failure.reason == "the run concluded 'failure'"


def test_the_release_records_the_commit_the_run_built_not_the_one_before_onboarding(core):
    core.forge.branches["main"] = "1" * 40
    deploy = core.begin()  # pins 111…, then the onboarding PR's merge moves main on
    _finish_with_run(core, deploy, head_sha="2" * 40)
    (release,) = releases.list_releases(core.deps, core.principal, core.environment_id)
    assert release.commit_sha == release.image_tag == "2" * 40


def _finish_with_run(core, deploy, head_sha: str) -> None:
    from vmkit import github_payloads as gh
    from vmkit.services.github_webhooks import record_run

    core.forge.tree[WORKFLOW_PATH] = "name: vmkit deploy\n"
    core.step("EnsureInstance", deploy)
    core.connect_agent()
    core.step("DispatchWorkflow", deploy, token="tok-run")
    run = gh.WorkflowRun(
        id=5,
        name=f"VMKit deploy {deploy.id}",
        status="completed",
        conclusion="success",
        html_url="https://github.com/acme/invoicer/actions/runs/5",
        head_sha=head_sha,
    )
    assert record_run(core.deps, core.deploy(deploy.id), run)["status"] == "completed"
    core.step("MarkSucceeded", deploy)


def test_only_a_job_logs_own_errors_are_quoted():
    from vmkit.adapters.github_app import error_lines

    log = (
        "2026-12-04T01:00:00.1Z ##[group]Run kamal deploy\n"
        "2026-12-04T01:00:00.2Z   ERROR (SSHKit::Command::Failed): docker exit status: 1\n"
        "2026-12-04T01:00:00.3Z ##[error]the image ghcr.io/a/b:1 is no longer in the registry\n"
        "2026-12-04T01:00:00.4Z ##[error]Process completed with exit code 1.\n"
    )
    assert error_lines(log) == ["the image ghcr.io/a/b:1 is no longer in the registry"]
    assert error_lines("2026-12-04T01:00:00.4Z ##[error]Process completed with exit code 1.") == []
