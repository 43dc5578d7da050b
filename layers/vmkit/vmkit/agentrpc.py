"""The server side of the agent protocol (agent/PROTOCOL.md), on API Gateway WebSockets.

VMKit never connects to a VM: it posts calls down the connection the agent opened
(`PostToConnection`, the `deps.agents` port), and the agent's replies arrive as
`$default` messages, each in its own Lambda invocation. So a call is a row
(`store.calls`): the reply handler finds it and either resumes the deploy waiting on
it (a task token) or stores the result for a short poll by whoever made the call
(REST logs, metrics, diagnose).
"""

from __future__ import annotations

import json
import time
from typing import Any

from vmkit.deps import Deps
from vmkit.errors import AgentCallFailed, AgentUnavailable, InvalidInput
from vmkit.ids import new_id
from vmkit.models import Environment, Instance, utcnow
from vmkit.observability import logger
from vmkit.ports import ConnectionGone
from vmkit.services import waits
from vmkit.store import AgentCall, Connection, WaitFor
from vmkit.store.runtime import expiry

CALL_TTL_S = 3600
CONNECTION_TTL_S = 3 * 3600  # longer than API Gateway's 2-hour limit: $disconnect is best effort
MAX_FRAME_BYTES = 32 * 1024
POLL_INTERVALS_S = (0.05, 0.1, 0.2, 0.3, 0.5)


# --- connections ------------------------------------------------------------------------


def remember_connection(
    deps: Deps, connection_id: str, *, instance_id: str, workspace_id: str
) -> None:
    deps.store.connections.put(
        Connection(
            connection_id=connection_id,
            instance_id=instance_id,
            workspace_id=workspace_id,
            expires_at=expiry(CONNECTION_TTL_S),
        )
    )


def forget_connection(deps: Deps, connection_id: str) -> None:
    """On `$disconnect`: the instance is offline unless a newer connection replaced this one.

    Decided by connection id, in the write itself: the `$disconnect` of a connection that
    is not (or no longer) the instance's current one changes nothing, even if a new
    connection registers between this read and the write.
    """
    known = deps.store.connections.get(connection_id)
    deps.store.connections.delete(connection_id)
    if known is None:
        return
    instance = deps.store.find(Instance, known.workspace_id, known.instance_id)
    if instance is not None:
        mark_gone(deps, instance, connection_id=connection_id)


def mark_gone(deps: Deps, instance: Instance, *, connection_id: str | None = None) -> None:
    """The agent is offline (which also takes it out of the connected-agents sweep).

    With `connection_id`, only if that is still the instance's current connection."""
    expect = {"connection_id": connection_id} if connection_id else None
    deps.store.set_fields(instance, expect=expect, agent_connected=False, connection_id=None)


# --- calls --------------------------------------------------------------------------------


def send(
    deps: Deps,
    instance: Instance,
    method: str,
    params: dict[str, Any],
    *,
    resumes: tuple[str, WaitFor] | None = None,
) -> str:
    """Post a call to the instance's agent; returns the call id.

    `resumes` names a parked deploy wait that the reply completes.
    """
    if not instance.agent_connected or not instance.connection_id:
        raise AgentUnavailable(f"the agent of {instance.id} is not connected")
    call_id = new_id("call")
    frame = json.dumps({"id": call_id, "type": "call", "method": method, "params": params})
    if len(frame.encode()) > MAX_FRAME_BYTES:
        raise InvalidInput(f"the {method} call is too large for one frame")
    deps.store.calls.put(
        AgentCall(
            call_id=call_id,
            instance_id=instance.id,
            workspace_id=instance.workspace_id,
            method=method,
            deploy_id=resumes[0] if resumes else None,
            what=resumes[1] if resumes else None,
            expires_at=expiry(CALL_TTL_S),
        )
    )
    try:
        deps.agents.post(instance.connection_id, frame.encode())
    except ConnectionGone as exc:
        mark_gone(deps, instance)
        raise AgentUnavailable(f"the agent of {instance.id} went away; it will reconnect") from exc
    return call_id


def call(
    deps: Deps, instance: Instance, method: str, params: dict[str, Any], *, timeout_s: float = 20.0
) -> dict[str, Any]:
    """Make a call and wait briefly for its reply (for REST and MCP: logs, metrics, diagnose)."""
    call_id = send(deps, instance, method, params)
    deadline = time.monotonic() + timeout_s
    attempt = 0
    while time.monotonic() < deadline:
        answered = deps.store.calls.get(call_id)
        if answered and answered.state == "done":
            return assembled(deps, answered)
        if answered and answered.state == "error":
            raise _refusal(method, answered.error or {})
        time.sleep(POLL_INTERVALS_S[min(attempt, len(POLL_INTERVALS_S) - 1)])
        attempt += 1
    raise AgentUnavailable(
        f"the agent of {instance.id} did not answer {method} within {timeout_s:.0f} s"
    )


# What the agent's error codes mean to the caller: a thing that does not exist on the
# VM (an unknown container) or a bad argument is the caller's to fix, a 4xx; anything
# else is the VM's (502).
_CALLER_ERRORS = {
    "not_found": (404, "not_on_vm"),
    "invalid_params": (422, "invalid_input"),
    "reply_too_large": (413, "reply_too_large"),
}


def _refusal(method: str, error: dict[str, str]) -> AgentCallFailed:
    agent_code = error.get("code") or ""
    refusal = AgentCallFailed(
        f"the agent refused {method}: {error.get('message') or 'unknown error'}",
        details={"agent_code": agent_code},
    )
    if agent_code in _CALLER_ERRORS:
        refusal.status, refusal.code = _CALLER_ERRORS[agent_code]
    return refusal


# --- what agents send ($default) ------------------------------------------------------------


def receive(deps: Deps, connection_id: str, body: str) -> None:
    """Handle one message from an agent. Bad messages are logged and dropped."""
    known = deps.store.connections.get(connection_id)
    if known is None:
        logger.warning("message on an unknown connection", extra={"connection_id": connection_id})
        return
    try:
        message = json.loads(body)
    except (TypeError, ValueError):
        logger.warning("agent sent non-JSON", extra={"connection_id": connection_id})
        return
    if not isinstance(message, dict):
        return
    instance = deps.store.find(Instance, known.workspace_id, known.instance_id)
    if instance is None:
        return
    kind, method = message.get("type"), message.get("method")
    params = message.get("params") if isinstance(message.get("params"), dict) else {}
    if kind == "event" and method == "register":
        _register(deps, instance, connection_id, params)
    elif kind == "event" and method == "heartbeat":
        _heartbeat(deps, instance, params)
    elif kind in {"result", "error"} and isinstance(message.get("id"), str):
        _reply(deps, instance, message)


def _register(deps: Deps, instance: Instance, connection_id: str, params: dict[str, Any]) -> None:
    claimed = params.get("instance_id")
    if claimed and claimed != instance.id:
        # A token is bound to one instance: it cannot speak for another.
        logger.warning("agent claimed another instance", extra={"instance_id": instance.id})
        return
    now = utcnow()
    info = {k: str(params[k])[:200] for k in ("version", "ip", "os", "arch") if k in params}
    replaced = instance.connection_id if instance.connection_id != connection_id else None
    deps.store.set_fields(
        instance,
        agent_connected=True,
        connection_id=connection_id,
        agent_version=info.get("version"),
        agent_info=info,
        connected_at=now,
        last_seen_at=now,
    )
    if replaced:
        # One connection per instance: the newer one wins, and the older is closed
        # rather than left to speak for the instance (its $disconnect changes nothing).
        logger.info(
            "a new agent connection replaces the old one",
            extra={"instance_id": instance.id, "replaced": replaced},
        )
        deps.agents.close(replaced)
    env = deps.store.find(Environment, instance.workspace_id, instance.environment_id)
    if env and env.active_deploy_id:
        waits.resume(
            deps, env.active_deploy_id, "agent", output={"agent_version": info.get("version")}
        )


def _heartbeat(deps: Deps, instance: Instance, params: dict[str, Any]) -> None:
    now = utcnow()
    fields: dict[str, Any] = {"last_seen_at": now, "agent_connected": True}
    if isinstance(params.get("metrics"), dict):
        fields.update(
            metrics=params["metrics"],
            metrics_at=now,
            metrics_history=instance.history_with(params["metrics"], now),
        )
    deps.store.set_fields(instance, **fields)


def _reply(deps: Deps, instance: Instance, message: dict[str, Any]) -> None:
    call = deps.store.calls.get(message["id"])
    if call is None or call.instance_id != instance.id or call.state != "pending":
        return  # unknown, foreign or already answered: a late or replayed reply
    if message["type"] == "error":
        error = message.get("error") if isinstance(message.get("error"), dict) else {}
        _fail(deps, call, str(error.get("code", "")), str(error.get("message", "")))
        return
    result = message.get("result") if isinstance(message.get("result"), dict) else {}
    chunk = message.get("chunk")
    chunks = None
    if chunk is not None:
        try:
            chunks = _take_chunk(deps, call, chunk, result)
        except _BadReply as bad:
            _fail(deps, call, bad.code, bad.message)
            _tell_agent(deps, instance, call, bad)
            return
        if chunks is None:
            return  # more chunks to come
    if call.method == "harden":
        deps.store.set_fields(instance, hardened_at=utcnow())
    # A deploy step's call resumes its wait; its result is not kept. A chunked result
    # stays in its chunk rows (it may exceed a DynamoDB item), read back by `call`.
    stored = {} if call.deploy_id or chunks else result
    finished = deps.store.calls.finish(call.call_id, result=stored, chunks=chunks)
    if finished and call.deploy_id and call.what:
        waits.resume(deps, call.deploy_id, call.what, output={"method": call.method, "ok": True})


# Chunked replies are joined up to this many frames and bytes (a `logs_fetch` of 5,000
# long lines fits; more is refused rather than kept): Lambda answers at most 6 MB.
MAX_REPLY_CHUNKS = 256
MAX_REPLY_BYTES = 4 * 1024 * 1024


class _BadReply(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _take_chunk(deps: Deps, call: AgentCall, chunk: Any, result: dict[str, Any]) -> int | None:
    """Keep one chunk; the count once all have arrived, None while some are missing."""
    if not isinstance(chunk, dict):
        raise _BadReply("bad_chunk", "a chunk must be {index, count}")
    index, count = chunk.get("index"), chunk.get("count")
    valid = (
        isinstance(index, int)
        and isinstance(count, int)
        and not isinstance(index, bool)
        and not isinstance(count, bool)
        and 0 <= index < count
    )
    if not valid:
        raise _BadReply("bad_chunk", f"chunk index {index!r} of {count!r} is not valid")
    if count > MAX_REPLY_CHUNKS:
        raise _BadReply(
            "reply_too_large",
            f"the {call.method} reply has {count} chunks; at most {MAX_REPLY_CHUNKS} are taken "
            "(ask for fewer lines)",
        )
    deps.store.calls.add_chunk(call.call_id, index, result, CALL_TTL_S)
    parts = deps.store.calls.chunks(call.call_id)
    if len(parts) < count:
        return None
    if sum(len(json.dumps(part)) for part in parts) > MAX_REPLY_BYTES:
        raise _BadReply(
            "reply_too_large",
            f"the {call.method} reply is over {MAX_REPLY_BYTES} bytes (ask for fewer lines)",
        )
    return count


def _fail(deps: Deps, call: AgentCall, code: str, message: str) -> None:
    failure = {"code": code, "message": message[:1000]}
    if deps.store.calls.finish(call.call_id, error=failure) and call.deploy_id and call.what:
        reason = f"the agent could not {call.method}: {failure['message'] or 'unknown error'}"
        waits.resume(deps, call.deploy_id, call.what, error="AgentCallFailed", cause=reason)


def _tell_agent(deps: Deps, instance: Instance, call: AgentCall, bad: _BadReply) -> None:
    """An error reply to the agent, so its log says why its reply was dropped."""
    frame = {
        "id": call.call_id,
        "type": "error",
        "error": {"code": bad.code, "message": bad.message},
    }
    if instance.connection_id:
        try:
            deps.agents.post(instance.connection_id, json.dumps(frame).encode())
        except ConnectionGone:
            mark_gone(deps, instance, connection_id=instance.connection_id)


def assembled(deps: Deps, call: AgentCall) -> dict[str, Any]:
    """A finished call's result, joining a chunked reply's `lines` in order."""
    if not call.chunks:
        return call.result or {}
    parts = deps.store.calls.chunks(call.call_id)
    lines: list[Any] = []
    for part in parts:
        lines.extend(part.get("lines", []))
    return {**parts[0], "lines": lines}
