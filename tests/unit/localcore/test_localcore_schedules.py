"""The template's `Type: Schedule` events fire on the local stack as EventBridge fires
them: the function invoked asynchronously with the scheduled-event payload."""

from __future__ import annotations

import json
import threading

import pytest

from tests.unit.localcore.test_localcore_template import FUNCTION, minimal, spec_of
from vmkit.handlers.events import ScheduledEvent
from vmkit_local.core.errors import TemplateError
from vmkit_local.core.resources import ScheduleSpec
from vmkit_local.core.schedules import Scheduler, rate_seconds
from vmkit_local.core.stackspec import StackSpec
from vmkit_local.embedded import TEMPLATE


def test_the_sweeper_is_scheduled_every_five_minutes():
    (rule,) = StackSpec(TEMPLATE, stack_name="vmkit").schedules()
    assert rule.function_name == "vmkit-ReconcileFunction"
    assert rule.rule_name.startswith("vmkit-ReconcileFunctionEveryFiveMinutes-")
    assert rule.period_s == 300 and rule.enabled


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 minute)", 60),
        ("rate(5 minutes)", 300),
        ("rate(2 hours)", 7200),
        ("rate(1 day)", 86400),
    ],
)
def test_rate_expressions(expression, seconds):
    assert rate_seconds(expression, "Fn") == seconds


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("cron(0 12 * * ? *)", "not modelled locally; use rate"),
        ("rate(5 minute)", "not a valid rate expression"),
        ("rate(1 minutes)", "not a valid rate expression"),
        ("rate(0 minutes)", "not a valid rate expression"),
    ],
)
def test_schedules_the_stack_cannot_fire_are_refused_with_the_function(
    tmp_path, expression, message
):
    events = f"    Events:\n      Tick:\n        Type: Schedule\n        Properties:\n          Schedule: {expression}\n"
    with pytest.raises(TemplateError, match=f"Fn.Events.Tick: .*{message}"):
        spec_of(minimal(tmp_path, FUNCTION + events)).schedules()


def test_a_rule_fires_its_function_with_eventbridges_payload_each_period():
    fired: list[tuple[str, dict]] = []
    three = threading.Event()

    def invoke_event(name: str, payload: bytes) -> str:
        fired.append((name, json.loads(payload)))
        if len(fired) == 3:
            three.set()
        return "request-id"

    rule = ScheduleSpec("vmkit-ReconcileFunction", "vmkit-ReconcileFunctionEvery-ABC", 300)
    disabled = ScheduleSpec("vmkit-Other", "vmkit-OtherTick-DEF", 300, enabled=False)
    scheduler = Scheduler(
        [rule, disabled],
        invoke_event,
        region="eu-central-1",
        account_id="123456789012",
        every_s=0.01,
    )
    scheduler.start()
    try:
        assert three.wait(10)
    finally:
        scheduler.stop()
    assert {name for name, _ in fired} == {"vmkit-ReconcileFunction"}
    event = ScheduledEvent.model_validate(fired[0][1])  # what the handler parses
    assert event.resources == [
        "arn:aws:events:eu-central-1:123456789012:rule/vmkit-ReconcileFunctionEvery-ABC"
    ]
    assert len({payload["id"] for _, payload in fired}) == len(fired)
