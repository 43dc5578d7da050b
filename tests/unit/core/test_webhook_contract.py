"""Webhooks move only the deploy that waits for them; a failed delivery is redelivered
and processed; a signed body of the wrong shape is a 400, never a crash."""

from __future__ import annotations

import json

import pytest

from tests.unit.core.conftest import repository, run_payload, waiting_for_run
from vmkit.errors import MalformedPayload, PayloadTooLarge, VMKitError
from vmkit.models import Repo, RepoAccess
from vmkit.services.onboarding import BRANCH


def stored(core, deploy) -> dict:
    return core.deploy(deploy.id).model_dump(mode="json")


def test_a_run_for_a_finished_deploy_changes_nothing(core, signed):
    deploy = waiting_for_run(core)
    signed("workflow_run", run_payload(core, deploy))
    core.step("MarkSucceeded", deploy)
    before = stored(core, deploy)
    for conclusion in ("failure", "success"):
        result = signed("workflow_run", run_payload(core, deploy, conclusion, run_id=1234))
        assert result == {"status": "ignored", "deploy_id": deploy.id}
    assert stored(core, deploy) == before


def test_another_run_of_the_same_deploy_changes_nothing(core, signed):
    deploy = waiting_for_run(core)
    progress = run_payload(core, deploy)
    progress["workflow_run"] |= {"status": "in_progress", "conclusion": None}
    assert signed("workflow_run", progress)["status"] == "progress"
    before = stored(core, deploy)
    other = signed("workflow_run", run_payload(core, deploy, "failure", run_id=555))
    assert other["status"] == "ignored"
    assert stored(core, deploy) == before and "tok-run" not in core.executions.resumed


def test_a_run_before_the_deploy_waits_for_one_changes_nothing(core, signed):
    deploy = core.begin()  # still running its first steps
    before = stored(core, deploy)
    assert signed("workflow_run", run_payload(core, deploy))["status"] == "ignored"
    assert stored(core, deploy) == before


def test_a_run_through_another_installation_changes_nothing(core, signed):
    deploy = waiting_for_run(core)
    payload = run_payload(core, deploy)
    payload["installation"] = {"id": 8}
    assert signed("workflow_run", payload) == {"status": "ignored", "event": "workflow_run"}
    assert "tok-run" not in core.executions.resumed


def test_a_merge_of_another_pr_on_the_onboarding_branch_resumes_nothing(core, signed):
    deploy = core.begin()
    core.step("OpenOnboardingPR", deploy, token="tok-pr")
    payload = {
        "action": "closed",
        "pull_request": {"number": 77, "merged": True, "head": {"ref": BRANCH}},
        "repository": repository(core),
        "installation": {"id": 7},
    }
    assert signed("pull_request", payload) == {"status": "merged", "resumed": []}
    assert core.deps.store.waits.waiting_for_merge(deploy.repo_id) == [deploy.id]


def test_a_delivery_that_failed_is_processed_when_github_redelivers_it(core, signed):
    deploy = waiting_for_run(core)
    core.executions.fail_next("resume", RuntimeError("Step Functions was unreachable"))
    with pytest.raises(RuntimeError):
        signed("workflow_run", run_payload(core, deploy), delivery="d-retry")
    again = signed("workflow_run", run_payload(core, deploy), delivery="d-retry")
    assert again["status"] == "completed"
    assert core.executions.resumed["tok-run"]["output"]["conclusion"] == "success"
    assert signed("workflow_run", run_payload(core, deploy), delivery="d-retry") == {
        "status": "duplicate",
        "delivery": "d-retry",
    }


MALFORMED = [
    b"[]",
    b'"a string"',
    b"42",
    b"null",
    b"{",
    b"\xff\xfe not utf-8",
    b"{}",
    b'{"action": "completed"}',
    b'{"action": "completed", "workflow_run": []}',
    b'{"action": "completed", "workflow_run": "x", "repository": {}}',
    b'{"action": 5, "workflow_run": {"id": 1, "html_url": "u"}, "repository": {"id": 1, "full_name": "a/b"}}',
    b'{"action": "completed", "workflow_run": {"id": "one", "html_url": "u"}, "repository": {"id": 1, "full_name": "a/b"}}',
    b'{"action": "completed", "workflow_run": {"id": 1, "html_url": "u"}, "repository": {"id": 1e400, "full_name": "a/b"}}',
    b'{"action": "completed", "workflow_run": {"id": 99999999999999999999999999, "html_url": "u"}, "repository": {"id": 1, "full_name": "a/b"}}',
    b'{"action": "completed", "workflow_run": {"id": -1, "html_url": "u"}, "repository": {"id": 1, "full_name": "a/b"}}',
    b'{"action": "completed", "workflow_run": {"id": 1, "html_url": "u"}, "repository": {"id": 1, "full_name": "no-slash"}}',
    b'{"action": "completed", "workflow_run": {"id": 1, "html_url": "u", "name": '
    + b'"'
    + b"n" * 5000
    + b'"}, "repository": {"id": 1, "full_name": "a/b"}}',
    b'{"action": "completed", "workflow_run": {"id": 1, "html_url": "u"}, "repository": {"id": 1, "full_name": "a/b"}, "installation": {"id": "x"}}',
    b'{"action": "completed", "workflow_run": {"id": true, "html_url": "u"}, "repository": {"id": 1, "full_name": "a/b"}}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 5000 + b"1" + b"}" * 5000,
]


@pytest.mark.parametrize("body", MALFORMED, ids=[f"body{i}" for i in range(len(MALFORMED))])
def test_a_signed_body_of_the_wrong_shape_is_a_400(core, signed, body):
    with pytest.raises(MalformedPayload) as refused:
        signed("workflow_run", None, raw=body)
    assert refused.value.status == 400 and refused.value.code == "malformed_payload"
    assert len(refused.value.message) < 500


@pytest.mark.parametrize(
    ("event", "body"),
    [
        ("pull_request", b'{"action": "closed", "pull_request": {"number": 1}}'),
        ("installation", b'{"action": "deleted", "installation": {"id": 7}}'),
        ("installation_repositories", b'{"action": "removed", "installation": 7}'),
    ],
)
def test_other_events_of_the_wrong_shape_are_a_400_too(core, signed, event, body):
    with pytest.raises(MalformedPayload):
        signed(event, None, raw=body)


def test_a_body_over_api_gateways_limit_is_a_413(core, signed):
    with pytest.raises(PayloadTooLarge) as refused:
        signed("workflow_run", None, raw=b" " * (10 * 1024 * 1024 + 1))
    assert refused.value.status == 413


def test_an_event_vmkit_does_not_use_is_acknowledged_even_if_odd(core, signed):
    assert signed("star", None, raw=b"[]") == {"status": "ignored", "event": "star"}


def installation_payload(action: str, installation_id: int = 7, **extra) -> dict:
    return {
        "action": action,
        "installation": {
            "id": installation_id,
            "account": {"login": "acme", "id": 900, "type": "Organization"},
            "repository_selection": "selected",
        },
        **extra,
    }


def repo_access(core) -> tuple[RepoAccess, str | None]:
    repo = core.deps.store.get(Repo, core.principal.workspace_id, core.env().repo_id)
    return repo.access, repo.access_reason


def test_uninstalling_the_app_stops_the_repos_deploys_with_a_reason(core, signed):
    result = signed("installation", installation_payload("deleted"))
    assert result["status"] == "applied"
    access, reason = repo_access(core)
    assert access is RepoAccess.removed and "uninstalled from acme" in reason
    with pytest.raises(VMKitError) as refused:
        core.start()
    assert refused.value.code == "repo_removed" and "uninstalled" in refused.value.message


def test_a_deploy_in_flight_when_the_app_is_uninstalled_fails_with_the_reason(core, signed):
    deploy = core.begin()
    signed("installation", installation_payload("deleted"))
    with pytest.raises(VMKitError):
        core.step("CheckOnboarding", deploy)
    core.step("MarkFailed", deploy, error={"Error": "Forbidden", "Cause": ""})
    failure = core.deploy(deploy.id).failure
    assert failure.step == "CheckOnboarding" and "uninstalled" in failure.reason


def test_suspending_and_unsuspending_the_installation(core, signed):
    signed("installation", installation_payload("suspend"))
    assert repo_access(core)[0] is RepoAccess.suspended
    signed("installation", installation_payload("unsuspend"))
    assert repo_access(core) == (RepoAccess.active, None)


def test_a_repo_removed_from_the_installation_stops_and_comes_back_when_added(core, signed):
    github_id = repository(core)["id"]
    ref = {"id": github_id, "full_name": "acme/invoicer"}
    signed("installation_repositories", installation_payload("removed", repositories_removed=[ref]))
    access, reason = repo_access(core)
    assert access is RepoAccess.removed and "removed from the GitHub App installation" in reason
    signed("installation_repositories", installation_payload("added", repositories_added=[ref]))
    assert repo_access(core) == (RepoAccess.active, None)


def test_events_of_an_installation_nobody_holds_change_nothing(core, signed):
    before = repo_access(core)
    assert signed("installation", installation_payload("deleted", 999))["status"] == "ignored"
    assert repo_access(core) == before


def test_the_teardown_of_a_repo_the_app_lost_still_removes_the_vm(core, signed):
    from vmkit.models import DeployAction

    deploy = core.begin()
    core.step("EnsureInstance", deploy)
    core.step("MarkSucceeded", deploy)
    signed("installation", installation_payload("deleted"))
    teardown = core.begin(DeployAction.teardown)
    core.step("DestroyInstance", teardown)
    core.step("DeleteDNS", teardown)
    core.step("DeleteDeploySecrets", teardown)
    core.step("MarkSucceeded", teardown)
    assert core.compute.servers == {}
    assert core.deploy(teardown.id).steps[-2].status == "skipped"


def test_json_of_the_sample_event_still_parses():
    from tests.support.events import load_event
    from vmkit import github_payloads

    body = json.loads(load_event("webhook-workflow-run-completed")["body"])
    github_payloads.WorkflowRunEvent.model_validate(body)
