"""The deploy timeline: what is printed as steps land, how it ends, and Ctrl-C."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console

from vmkit.models import StepRecord
from vmkit.schemas import DeployPublic
from vmkit_cli.client import ApiError
from vmkit_cli.output import Output
from vmkit_cli.watch import Watcher

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PR = "merge http://github.test/acme/shop/pull/1 to continue"


def _step(name: str, status: str, second: float, detail: str | None = None) -> StepRecord:
    return StepRecord(name=name, status=status, at=T0 + timedelta(seconds=second), detail=detail)


def _deploy(status: str, *steps: StepRecord, **fields: object) -> DeployPublic:
    ended = status in ("succeeded", "failed", "cancelled")
    record = {
        "id": "dep_01M8YKPN71H88R728M6ZHR59KX",
        "action": "deploy",
        "environment_id": "env_01M8YKPFDR0E1NY45PJJVJ6ZZ2",
        "repo_id": "repo_01M8YKPESTRM6FRZ8BF8E9PHBS",
        "ref": "main",
        "commit_sha": None,
        "status": status,
        "steps": list(steps),
        "failure": None,
        "run_url": None,
        "url": None,
        "requested_by": "key:1",
        "interface": "cli",
        "created_at": T0,
        "updated_at": steps[-1].at if steps else T0,
        "finished_at": steps[-1].at if steps and ended else None,
    }
    return DeployPublic.model_validate({**record, **fields})


LOADED = _step("LoadContext", "succeeded", 0.4, "acme/shop@main (ac754bf)")
ASKED = _step("OpenOnboardingPR", "waiting", 1.0, "waiting for the onboarding PR to be merged")
LINKED = _step("OpenOnboardingPR", "waiting", 1.1, PR)
CREATED = _step("EnsureInstance", "succeeded", 9.0, "created server 1001")
DONE = _step("Done", "succeeded", 12.3, "http://shop-production.localhost:8080")


class FakeClient:
    """Answers `get_deploy` with each state in turn, as the API would over a deploy."""

    def __init__(self, states: list[DeployPublic]):
        self.states: Iterator[DeployPublic] = iter(states)
        self.cancelled: list[str] = []
        self.cancel_answer: DeployPublic | ApiError | None = None

    def get_deploy(self, deploy_id: str) -> DeployPublic:
        return next(self.states)

    def cancel_deploy(self, deploy_id: str) -> DeployPublic:
        self.cancelled.append(deploy_id)
        if isinstance(self.cancel_answer, ApiError):
            raise self.cancel_answer
        assert self.cancel_answer is not None
        return self.cancel_answer


def _piped() -> tuple[Output, io.StringIO]:
    buffer = io.StringIO()
    return Output(json_mode=False, stdout=buffer), buffer


def _terminal() -> tuple[Output, io.StringIO]:
    out, buffer = _piped()
    out.console = Console(file=buffer, force_terminal=True, width=160, color_system="standard")
    return out, buffer


def _watch(
    out: Output, states: list[DeployPublic], **kw
) -> tuple[Watcher, FakeClient, DeployPublic]:
    client = FakeClient(states[1:])
    watcher = Watcher(client, out, sleep=lambda s: None, **kw)  # type: ignore[arg-type]
    return watcher, client, watcher.follow(states[0])


def test_piped_each_step_is_printed_once_as_it_lands_and_it_ends_with_the_url():
    out, buffer = _piped()
    states = [
        _deploy("queued"),
        _deploy("running", LOADED),
        _deploy("waiting_for_pr", LOADED, ASKED),
        _deploy("waiting_for_pr", LOADED, ASKED, LINKED),
        _deploy("waiting_for_pr", LOADED, ASKED, LINKED),
        _deploy("running", LOADED, ASKED, LINKED, CREATED),
        _deploy("succeeded", LOADED, ASKED, LINKED, CREATED, DONE, url=DONE.detail),
    ]
    watcher, _, final = _watch(out, states)
    assert watcher.outcome(final, "deploy") == 0
    lines = buffer.getvalue().splitlines()
    assert lines == [
        "  LoadContext          succeeded     0.4s  acme/shop@main (ac754bf)",
        "  OpenOnboardingPR     waiting       1.0s  waiting for the onboarding PR to be merged",
        f"  OpenOnboardingPR     waiting       1.1s  {PR}",
        "  EnsureInstance       succeeded     9.0s  created server 1001",
        "  Done                 succeeded    12.3s  http://shop-production.localhost:8080",
        "deploy succeeded in 12.3s: http://shop-production.localhost:8080",
    ]


def test_on_a_terminal_a_finished_wait_says_how_long_and_a_superseded_record_is_folded():
    out, buffer = _terminal()
    states = [
        _deploy("waiting_for_pr", LOADED, ASKED, LINKED),
        _deploy("running", LOADED, ASKED, LINKED, CREATED),
        _deploy("succeeded", LOADED, ASKED, LINKED, CREATED, DONE, url=DONE.detail),
    ]
    _watch(out, states)
    screen = buffer.getvalue()
    assert "waiting for the onboarding PR to be merged" not in screen  # folded into the next
    assert "waited" in screen and "(8.0s)" in screen  # 1.0 s → 9.0 s, from the first record
    assert "\x1b[32m" in screen  # succeeded in green


def test_a_failure_names_the_step_the_reason_and_the_actions_log():
    out, buffer = _piped()
    failed = _step("DispatchWorkflow", "failed", 20.0, "the workflow run failed")
    final = _deploy(
        "failed",
        LOADED,
        failed,
        failure={"step": "DispatchWorkflow", "reason": "kamal deploy failed: health check"},
        run_url="http://github.test/acme/shop/actions/runs/7",
    )
    watcher, _, ended = _watch(out, [final])
    assert watcher.outcome(ended, "deploy") == 1
    tail = buffer.getvalue().splitlines()[-2:]
    assert tail == [
        "deploy failed at DispatchWorkflow: kamal deploy failed: health check (20.0s)",
        "GitHub Actions log: http://github.test/acme/shop/actions/runs/7",
    ]


class Interrupting(FakeClient):
    """A person presses Ctrl-C while the deploy waits for its PR."""

    def get_deploy(self, deploy_id: str) -> DeployPublic:
        raise KeyboardInterrupt


def _interrupted(answer: str, cancel_answer: DeployPublic | ApiError | None = None):
    out, buffer = _piped()
    waiting = _deploy("waiting_for_pr", LOADED, LINKED)
    client = Interrupting([])
    client.cancel_answer = cancel_answer
    asked: list[str] = []

    def ask(deploy_id: str) -> str:
        asked.append(deploy_id)
        return answer

    watcher = Watcher(client, out, sleep=lambda s: None, ask=ask)  # type: ignore[arg-type]
    final = watcher.follow(waiting)
    return watcher, client, final, buffer.getvalue(), asked


def test_ctrl_c_then_detach_leaves_the_deploy_running_and_says_how_to_follow_it():
    watcher, client, final, screen, asked = _interrupted("detach")
    assert asked == [final.id] and client.cancelled == []
    assert watcher.outcome(final, "deploy") == 0
    assert f"vmkit deploys show {final.id} --watch" in watcher.out.console.file.getvalue()
    assert PR in screen


def test_ctrl_c_then_cancel_cancels_and_exits_3():
    cancelled = _deploy(
        "cancelled",
        LOADED,
        LINKED,
        failure={"step": "OpenOnboardingPR", "reason": "cancelled by key:1"},
    )
    watcher, client, final, _, _ = _interrupted("cancel", cancelled)
    assert client.cancelled == [cancelled.id]
    assert watcher.outcome(final, "deploy") == 3


def test_a_cancel_that_loses_the_race_to_the_end_reports_how_it_ended():
    class EndedFirst(Interrupting):
        def get_deploy(self, deploy_id: str) -> DeployPublic:
            if self.cancelled:
                return _deploy("succeeded", LOADED, DONE, url=DONE.detail)
            raise KeyboardInterrupt

    out, _ = _piped()
    client = EndedFirst([])
    client.cancel_answer = ApiError(409, "deploy_ended", "deploy dep_… already succeeded")
    watcher = Watcher(client, out, sleep=lambda s: None, ask=lambda _: "cancel")  # type: ignore[arg-type]
    final = watcher.follow(_deploy("waiting_for_workflow", LOADED))
    assert final.status == "succeeded" and watcher.outcome(final, "deploy") == 0


def test_other_cancel_errors_are_not_swallowed():
    with pytest.raises(ApiError):
        _interrupted("cancel", ApiError(403, "insufficient_scope", "needs deploy"))


def test_json_mode_prints_nothing_while_watching():
    out = Output(json_mode=True, stdout=io.StringIO())
    _watch(out, [_deploy("running", LOADED), _deploy("succeeded", LOADED, DONE, url=DONE.detail)])
    assert out.console.file.getvalue() == ""
