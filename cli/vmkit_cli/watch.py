"""Following a deploy (or a teardown) as it happens: the step timeline.

The API records each step when it finishes, or when it starts waiting on the outside
world (a pull request to merge, an agent to dial in, a workflow to run). So each
recorded step becomes one line, with the time since the deploy started; on a
terminal, the step being waited on stays at the bottom with a spinner and its own
clock until the next step lands, then it is printed with how long it waited. Piped,
each step is printed once, as it lands, with no cursor movement.

Polling is every half second for the first half minute (local deploys finish in
seconds), then every two (a real one takes minutes: no need to hammer the API).

Ctrl-C does not silently abandon anything: it asks whether to cancel the deploy or
only stop watching (on a terminal; with no one to ask it only stops watching).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from rich.console import Group
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

from vmkit.models import DeployStatus, StepRecord
from vmkit.schemas import DeployPublic
from vmkit_cli import prompts
from vmkit_cli.client import ApiError, VMKitClient
from vmkit_cli.errors import CANCELLED, FAILED, SUCCEEDED
from vmkit_cli.output import Output, duration, status_text

FAST_POLL_S, SLOW_POLL_S, FAST_FOR_S = 0.5, 2.0, 30.0
NAME_WIDTH, STATUS_WIDTH = 20, 10
EXIT_CODES = {
    DeployStatus.succeeded: SUCCEEDED,
    DeployStatus.failed: FAILED,
    DeployStatus.cancelled: CANCELLED,
}


def seconds(delta: timedelta) -> float:
    return delta / timedelta(seconds=1)


def step_line(step: StepRecord, started: datetime, waited: timedelta | None = None) -> Text:
    """One step: name, status, time since the deploy started, detail (and a finished wait)."""
    status = "waited" if waited is not None else step.status
    line = Text.assemble(
        f"  {step.name:<{NAME_WIDTH}} ",
        status_text(f"{status:<{STATUS_WIDTH}}", status),
        f" {duration(seconds(step.at - started)):>7}  ",
        step.detail or "",
    )
    if waited is not None:
        line.append(f"  ({duration(seconds(waited))})", style="dim")
    return line


def _wait_began(steps: list[StepRecord], index: int) -> datetime:
    """When the wait of `steps[index]` began: at the first of its run of waiting records."""
    while (
        index > 0
        and steps[index - 1].name == steps[index].name
        and steps[index - 1].status == "waiting"
    ):
        index -= 1
    return steps[index].at


class _Current:
    """The live bottom line: a spinner, what is happening, and for how long."""

    def __init__(self) -> None:
        self.spinner = Spinner("dots", style="cyan")
        self.label = "starting"
        self.since = datetime.now(UTC)
        self.note = ""

    def show(self, label: str, since: datetime, note: str) -> None:
        self.label, self.since, self.note = label, since, note

    def __rich__(self) -> Group:
        elapsed = duration(seconds(datetime.now(UTC) - self.since))
        text = Text.assemble(f" {self.label}  ", (elapsed, "bold"))
        if self.note:
            text.append(f"  {self.note}")
        self.spinner.text = text
        return Group(
            self.spinner, Text("  Ctrl-C: cancel the deploy or stop watching", style="dim")
        )


class Watcher:
    def __init__(
        self,
        client: VMKitClient,
        out: Output,
        *,
        sleep: Callable[[float], None] = time.sleep,
        ask: Callable[[str], prompts.Choice] = prompts.after_interrupt,
    ):
        self.client = client
        self.out = out
        self.sleep = sleep
        self.ask = ask
        self.shown = 0  # steps printed for good
        self.latest: DeployPublic | None = None
        self.live_mode = out.is_terminal and not out.json_mode

    def follow(self, deploy: DeployPublic) -> DeployPublic:
        """Poll until the deploy ends (or the person stops watching); print as it goes."""
        current = _Current()
        self.latest = deploy
        watch_started = time.monotonic()
        while True:
            # A fresh live region each time: a restarted one would draw over the prompt.
            live = Live(current, console=self.out.console, refresh_per_second=10, transient=True)
            if self.live_mode:
                live.start()
            try:
                return self._poll(current, watch_started)
            except KeyboardInterrupt:
                pass
            finally:
                live.stop()
            choice = self.ask(self.latest.id)
            if choice == "detach":
                self._print_steps(self.latest, len(self.latest.steps))  # keep the PR's link
                return self.latest
            if choice == "cancel":
                self.latest = self._cancel(self.latest)

    def _poll(self, current: _Current, watch_started: float) -> DeployPublic:
        assert self.latest is not None
        while True:
            self._render(self.latest, current)
            if self.latest.status.terminal:
                return self.latest
            elapsed = time.monotonic() - watch_started
            self.sleep(FAST_POLL_S if elapsed < FAST_FOR_S else SLOW_POLL_S)
            self.latest = self.client.get_deploy(self.latest.id)

    def _cancel(self, deploy: DeployPublic) -> DeployPublic:
        try:
            return self.client.cancel_deploy(deploy.id)
        except ApiError as exc:
            if exc.code != "deploy_ended":  # it finished first: report how it ended
                raise
            return self.client.get_deploy(deploy.id)

    def _render(self, deploy: DeployPublic, current: _Current) -> None:
        steps = deploy.steps
        # A waiting step stays live at the bottom until a later step lands after it.
        holding = (
            self.live_mode
            and not deploy.status.terminal
            and bool(steps)
            and steps[-1].status == "waiting"
        )
        self._print_steps(deploy, len(steps) - 1 if holding else len(steps))
        if holding:
            last = steps[-1]
            current.show(last.name, _wait_began(steps, len(steps) - 1), last.detail or "")
        else:
            since = steps[-1].at if steps else deploy.created_at
            current.show(deploy.status.value, since, "")

    def _print_steps(self, deploy: DeployPublic, upto: int) -> None:
        steps = deploy.steps
        for index in range(self.shown, upto):
            step, later = steps[index], steps[index + 1] if index + 1 < len(steps) else None
            if step.status == "waiting" and later is not None and later.name == step.name:
                continue  # superseded: the step says more about the same wait (the PR's link)
            waited = None
            if step.status == "waiting" and later is not None and self.live_mode:
                waited = later.at - _wait_began(steps, index)
            self.out.line(step_line(step, deploy.created_at, waited))  # above the live region
        self.shown = max(self.shown, upto)

    def outcome(self, deploy: DeployPublic, what: str) -> int:
        """The last lines: the URL, or why it failed and where to look; and the exit code."""
        if not deploy.status.terminal:
            self.out.line(
                f"{deploy.id} is still {deploy.status.value.replace('_', ' ')}; follow it with "
                f"`vmkit deploys show {deploy.id} --watch` or cancel it with "
                f"`vmkit deploys cancel {deploy.id}`"
            )
            return SUCCEEDED
        took = duration(seconds((deploy.finished_at or deploy.updated_at) - deploy.created_at))
        if deploy.status is DeployStatus.succeeded:
            tail = f": {deploy.url}" if deploy.url else ""
            self.out.line(Text.assemble((f"{what} succeeded", "green bold"), f" in {took}{tail}"))
        else:
            failure = deploy.failure
            reason = f" at {failure.step}: {failure.reason}" if failure else ""
            style = "red bold" if deploy.status is DeployStatus.failed else "yellow bold"
            self.out.line(
                Text.assemble((f"{what} {deploy.status.value}", style), f"{reason} ({took})")
            )
            if deploy.run_url:
                self.out.line(f"GitHub Actions log: {deploy.run_url}")
        return EXIT_CODES[deploy.status]
