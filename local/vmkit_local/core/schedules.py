"""The template's `Type: Schedule` events, fired as EventBridge fires them.

Each rule invokes its function asynchronously (as EventBridge does: the caller does
not wait, and an error is the function's to log) with EventBridge's scheduled-event
payload, once per period, the first time one period after the stack is ready.
`every_s` replaces every rule's period, so tests see several firings in seconds.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from vmkit_local.core.errors import TemplateError
from vmkit_local.core.resources import ScheduleSpec

log = logging.getLogger(__name__)

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str, where: str) -> float:
    """EventBridge's `rate(value unit)`: the singular unit only for 1, as AWS requires."""
    match = _RATE.match(expression.strip())
    if not match:
        raise TemplateError(
            f"{where}: schedule {expression!r} is not modelled locally; use rate(N minutes|hours|days)"
        )
    value, unit = int(match.group(1)), match.group(2)
    if value < 1 or (value == 1) != (not unit.endswith("s")):
        raise TemplateError(f"{where}: {expression!r} is not a valid rate expression")
    return float(value * _UNIT_S[unit.rstrip("s")])


class Scheduler:
    """One thread for every rule; `stop` waits for it (a firing under way runs on)."""

    def __init__(
        self,
        rules: Sequence[ScheduleSpec],
        invoke_event: Callable[[str, bytes], str],
        *,
        region: str,
        account_id: str,
        every_s: float | None = None,
    ):
        self.rules = [rule for rule in rules if rule.enabled]
        self._invoke_event = invoke_event
        self._region, self._account_id = region, account_id
        self._every_s = every_s
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def period(self, rule: ScheduleSpec) -> float:
        return self._every_s if self._every_s is not None else rule.period_s

    def start(self) -> None:
        if not self.rules:
            return
        self._thread = threading.Thread(target=self._run, name="schedules", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        now = time.monotonic()
        due = {rule.rule_name: now + self.period(rule) for rule in self.rules}
        while not self._stopping.is_set():
            rule = min(self.rules, key=lambda r: due[r.rule_name])
            if self._stopping.wait(max(0.0, due[rule.rule_name] - time.monotonic())):
                return
            due[rule.rule_name] += self.period(rule)
            self._fire(rule)

    def _fire(self, rule: ScheduleSpec) -> None:
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self._account_id,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self._region,
            "resources": [
                f"arn:aws:events:{self._region}:{self._account_id}:rule/{rule.rule_name}"
            ],
            "detail": {},
        }
        try:
            self._invoke_event(rule.function_name, json.dumps(event).encode())
        except Exception:  # EventBridge retries later; so does the next period here
            log.exception("the schedule %s could not invoke %s", rule.rule_name, rule.function_name)
