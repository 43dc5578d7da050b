"""The wire format: parsing what the server sends, framing what the agent replies."""

from __future__ import annotations

import json
import re

import pytest

from vmkit_agent.protocol import (
    MAX_MESSAGE_BYTES,
    MalformedMessage,
    ResultTooLarge,
    error_reply,
    event,
    frame_size,
    new_id,
    parse,
    result_replies,
)


def test_a_call_is_parsed_with_its_params():
    message = parse('{"id": "01J", "type": "call", "method": "harden", "params": {"a": 1}}')
    assert (message.type, message.id, message.method, message.params) == (
        "call",
        "01J",
        "harden",
        {"a": 1},
    )


def test_a_call_without_params_gets_empty_params():
    assert parse('{"id": "1", "type": "call", "method": "diagnose"}').params == {}


@pytest.mark.parametrize(
    ("frame", "reason", "call_id"),
    [
        ("not json", "not valid JSON", None),
        (b'{"id": "1"}', "binary frame", None),
        ("[1, 2]", "expected a JSON object, got list", None),
        ('{"type": "call", "method": "x"}', "id must be a non-empty string", None),
        ('{"id": "", "type": "call", "method": "x"}', "id must be a non-empty string", None),
        ('{"id": 7, "type": "call", "method": "x"}', "id must be a non-empty string", None),
        ('{"id": "c1", "type": "shout", "method": "x"}', "type must be one of", "c1"),
        ('{"id": "c1", "type": "call"}', "a call needs a non-empty string method", "c1"),
        (
            '{"id": "c1", "type": "call", "method": "x", "params": [1]}',
            "params must be a JSON object",
            "c1",
        ),
        (json.dumps({"id": "x" * 129, "type": "call", "method": "m"}), "at most 128", None),
    ],
)
def test_malformed_frames_are_refused_with_a_reason_and_the_id_when_known(frame, reason, call_id):
    with pytest.raises(MalformedMessage, match=reason) as refused:
        parse(frame)
    assert refused.value.call_id == call_id


def test_error_replies_carry_code_and_message():
    assert json.loads(error_reply(None, None, "malformed_message", "bad")) == {
        "id": None,
        "type": "error",
        "method": None,
        "error": {"code": "malformed_message", "message": "bad"},
    }


def test_events_get_fresh_time_ordered_ids():
    first_id, frame = event("heartbeat", {"uptime_s": 1})
    second_id, _ = event("heartbeat", {"uptime_s": 2})

    assert json.loads(frame) == {
        "id": first_id,
        "type": "event",
        "method": "heartbeat",
        "params": {"uptime_s": 1},
    }
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{26}", first_id)
    assert first_id != second_id and first_id[:8] <= second_id[:8]
    assert len({new_id() for _ in range(1000)}) == 1000


def test_a_small_result_is_one_frame_without_chunk():
    (frame,) = result_replies("c1", "metrics_collect", {"cpu_pct": 1.0})
    assert json.loads(frame) == {
        "id": "c1",
        "type": "result",
        "method": "metrics_collect",
        "result": {"cpu_pct": 1.0},
    }


def test_a_big_result_is_split_in_order_into_frames_under_the_limit():
    lines = [
        {"ts": "2026-11-23T10:00:00Z", "text": f"line {i} é✓ {'z' * (i % 300)}"}
        for i in range(5000)
    ]

    frames = result_replies("c1", "logs_fetch", {"lines": lines}, split_key="lines")

    assert len(frames) > 10
    assert max(frame_size(f) for f in frames) <= MAX_MESSAGE_BYTES
    messages = [json.loads(f) for f in frames]
    assert [m["chunk"] for m in messages] == [
        {"index": i, "count": len(frames)} for i in range(len(frames))
    ]
    assert {m["id"] for m in messages} == {"c1"} and {m["type"] for m in messages} == {"result"}
    assert [line for m in messages for line in m["result"]["lines"]] == lines


def test_a_big_result_that_cannot_be_split_is_refused():
    with pytest.raises(ResultTooLarge, match="over the 32000-byte frame limit"):
        result_replies("c1", "diagnose", {"blob": "x" * 40_000})


def test_a_single_item_too_big_for_a_frame_is_refused():
    with pytest.raises(ResultTooLarge, match="one item"):
        result_replies("c1", "logs_fetch", {"lines": [{"text": "x" * 40_000}]}, split_key="lines")
