"""One agent connection per instance, decided by connection id; chunked replies joined
up to a stated limit; a malformed chunk answered with an error, never a crash."""

from __future__ import annotations

import json

import pytest

from vmkit import agentrpc
from vmkit.errors import AgentCallFailed
from vmkit.services import instances


@pytest.fixture
def vm(core):
    deploy = core.begin()
    core.step("EnsureInstance", deploy)
    core.connect_agent("conn-real")
    return core.instance()


def test_a_second_connection_replaces_the_first_which_is_closed(core, vm):
    core.connect_agent("conn-dup")  # the same token, registering again
    instance = core.instance()
    assert instance.connection_id == "conn-dup" and instance.agent_connected
    assert core.agents.called("close") == [("conn-real",)]


def test_the_disconnect_of_a_replaced_connection_changes_nothing(core, vm):
    core.connect_agent("conn-dup")
    core.connect_agent("conn-real-2")  # the real agent, closed, comes straight back
    agentrpc.forget_connection(core.deps, "conn-dup")  # the replaced one's $disconnect
    instance = core.instance()
    assert instance.agent_connected and instance.connection_id == "conn-real-2"
    metrics_call = agentrpc.send(core.deps, instance, "metrics_collect", {})
    assert core.agents.frames[-1] == (
        "conn-real-2",
        {"id": metrics_call, "type": "call", "method": "metrics_collect", "params": {}},
    )


def test_the_disconnect_of_the_current_connection_marks_the_agent_offline(core, vm):
    agentrpc.forget_connection(core.deps, "conn-real")
    assert not core.instance().agent_connected


def test_a_disconnect_racing_a_new_registration_leaves_the_new_one(core, vm):
    stale = core.instance()  # what the $disconnect of conn-real read
    core.connect_agent("conn-new")
    agentrpc.mark_gone(core.deps, stale, connection_id="conn-real")
    assert core.instance().connection_id == "conn-new" and core.instance().agent_connected


def reply_in_chunks(core, call_id: str, lines: list[dict], per_chunk: int) -> None:
    slices = [lines[i : i + per_chunk] for i in range(0, len(lines), per_chunk)]
    for index, part in enumerate(slices):
        frame = {
            "id": call_id,
            "type": "result",
            "chunk": {"index": index, "count": len(slices)},
            "result": {"lines": part},
        }
        assert len(json.dumps(frame)) < 32 * 1024  # each fits one WebSocket frame
        agentrpc.receive(core.deps, "conn-real", json.dumps(frame))


def test_a_logs_fetch_of_5000_lines_comes_back_whole(core, vm):
    lines = [
        {"ts": f"2026-12-03T18:00:{i % 60:02d}Z", "text": f"line {i} " + "x" * 80}
        for i in range(5000)
    ]
    call_id = agentrpc.send(core.deps, vm, "logs_fetch", {"container": "web", "lines": 5000})
    reply_in_chunks(core, call_id, lines, per_chunk=200)
    answered = core.deps.store.calls.get(call_id)
    assert answered.state == "done" and answered.chunks == 25
    assert agentrpc.assembled(core.deps, answered)["lines"] == lines


def test_the_rest_logs_route_returns_5000_lines_through_the_service(core, vm, monkeypatch):
    lines = [{"ts": str(i), "text": f"line {i}"} for i in range(5000)]

    def call(deps, instance, method, params, *, timeout_s):
        call_id = agentrpc.send(deps, instance, method, params)
        reply_in_chunks(core, call_id, lines, per_chunk=500)
        return agentrpc.assembled(deps, deps.store.calls.get(call_id))

    monkeypatch.setattr(agentrpc, "call", call)
    got = instances.fetch_logs(core.deps, core.principal, vm.id, container="web", lines=5000)
    assert [line.text for line in got] == [line["text"] for line in lines]


@pytest.mark.parametrize(
    "chunk",
    [
        {"index": "0", "count": 2},
        {"index": 2, "count": 2},
        {"index": -1, "count": 2},
        {"index": 0, "count": 0},
        {"index": True, "count": 2},
        {"index": 0},
        "zero of two",
        [0, 2],
    ],
)
def test_a_malformed_chunk_fails_the_call_with_a_reason_and_tells_the_agent(core, vm, chunk):
    call_id = agentrpc.send(core.deps, vm, "logs_fetch", {"container": "web"})
    agentrpc.receive(
        core.deps,
        "conn-real",
        json.dumps({"id": call_id, "type": "result", "chunk": chunk, "result": {"lines": []}}),
    )
    answered = core.deps.store.calls.get(call_id)
    assert answered.state == "error" and answered.error["code"] == "bad_chunk"
    told = core.agents.frames[-1][1]
    assert told["id"] == call_id and told["type"] == "error"
    assert told["error"]["code"] == "bad_chunk"


def test_a_reply_over_the_limit_is_refused_as_too_large(core, vm, monkeypatch):
    call_id = agentrpc.send(core.deps, vm, "logs_fetch", {"container": "web"})
    agentrpc.receive(
        core.deps,
        "conn-real",
        json.dumps(
            {
                "id": call_id,
                "type": "result",
                "chunk": {"index": 0, "count": agentrpc.MAX_REPLY_CHUNKS + 1},
                "result": {"lines": []},
            }
        ),
    )
    answered = core.deps.store.calls.get(call_id)
    assert answered.error["code"] == "reply_too_large"
    refusal = agentrpc._refusal("logs_fetch", answered.error)
    assert isinstance(refusal, AgentCallFailed) and refusal.status == 413


def test_an_unknown_container_is_a_404_for_the_caller_not_a_502(core, vm):
    refusal = agentrpc._refusal("logs_fetch", {"code": "not_found", "message": "no container nope"})
    assert (refusal.status, refusal.code) == (404, "not_on_vm")
    other = agentrpc._refusal("harden", {"code": "host_error", "message": "sshd -t failed"})
    assert other.status == 502
