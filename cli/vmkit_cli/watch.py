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
    line = Text.assemble(
        f"  {step.name:<{NAME_WIDTH}} ",
        status_text(f"{step.status:<{STATUS_WIDTH}}"),
        f" {duration(seconds(step.at - started)):>7}  ",
        step.detail or "",
    )
    if waited is not None:
        line.append(f"  (waited {duration(seconds(waited))})", style="dim")
    return line


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
        self.live_mode = out.is_terminal and not out.json_mode

    def follow(self, deploy: DeployPublic) -> DeployPublic:
        """Poll until the deploy ends (or the person stops watching); print as it goes."""
        current = _Current()
        live = Live(current, console=self.out.console, refresh_per_second=10, transient=True)
        if self.live_mode:
            live.start()
        watch_started = time.monotonic()
        try:
            while True:
                try:
                    self._render(deploy, live, current)
                    if deploy.status.terminal:
                        return deploy
                    elapsed = time.monotonic() - watch_started
                    self.sleep(FAST_POLL_S if elapsed < FAST_FOR_S else SLOW_POLL_S)
                    deploy = self.client.get_deploy(deploy.id)
                except KeyboardInterrupt:
                    live.stop()
                    choice = self.ask(deploy.id)
                    if choice == "detach":
                        return deploy
                    if choice == "cancel":
                        deploy = self._cancel(deploy)
                    if self.live_mode:
                        live.start()
        finally:
            live.stop()

    def _cancel(self, deploy: DeployPublic) -> DeployPublic:
        try:
            return self.client.cancel_deploy(deploy.id)
        except ApiError as exc:
            if exc.code != "deploy_ended":  # it finished first: report how it ended
                raise
            return self.client.get_deploy(deploy.id)

    def _render(self, deploy: DeployPublic, live: Live, current: _Current) -> None:
        steps = deploy.steps
        # A waiting step stays live at the bottom until a later step lands after it.
        holding = (
            self.live_mode
            and not deploy.status.terminal
            and bool(steps)
            and steps[-1].status == "waiting"
        )
        printable = len(steps) - 1 if holding else len(steps)
        for index in range(self.shown, printable):
            step = steps[index]
            waited = None
            if step.status == "waiting" and index + 1 < len(steps):
                waited = steps[index + 1].at - step.at
            line = step_line(step, deploy.created_at, waited if self.live_mode else None)
            if self.live_mode:
                live.console.print(line, soft_wrap=True)
            else:
                self.out.line(line)
        self.shown = max(self.shown, printable)
        if holding:
            last = steps[-1]
            current.show(last.name, last.at, last.detail or "")
        else:
            since = steps[-1].at if steps else deploy.created_at
            current.show(deploy.status.value, since, "")

    def outcome(self, deploy: DeployPublic, what: str) -> int:
        """The last lines: the URL, or why it failed and where to look; and the exit code."""
        if not deploy.status.terminal:
            self.out.line(
                f"{deploy.id} is still {deploy.status.value}; follow it with "
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
