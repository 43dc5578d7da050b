"""The server side of the agent protocol (agent/PROTOCOL.md), on API Gateway WebSockets.

VMKit never connects to a VM: it posts calls down the connection the agent opened
(`PostToConnection`), and the agent's replies arrive as `$default` messages, each in
its own Lambda invocation. So a call is a row, `CALL#{id}`: the reply handler finds
it and either resumes the deploy waiting on it (a task token) or stores the result
for a short poll by whoever made the call (REST logs, metrics, diagnose).
"""

from __future__ import annotations

import json
import time
from typing import Any

from botocore.exceptions import ClientError

from vmkit.deps import Deps
from vmkit.errors import AgentCallFailed, AgentUnavailable, InvalidInput
from vmkit.ids import new_id
from vmkit.models import Instance, utcnow
from vmkit.observability import logger
from vmkit.services import waits

CALL_TTL_S = 3600
CONNECTION_TTL_S = 3 * 3600  # longer than API Gateway's 2-hour limit: $disconnect is best effort
MAX_FRAME_BYTES = 32 * 1024
POLL_INTERVALS_S = (0.05, 0.1, 0.2, 0.3, 0.5)


def _management(deps: Deps) -> Any:
    key = "apigatewaymanagementapi"
    if key not in deps._clients:
        import boto3

        deps._clients[key] = boto3.client(key, endpoint_url=deps.settings.ws_management_url)
    return deps._clients[key]


# --- connections ------------------------------------------------------------------------


def remember_connection(
    deps: Deps, connection_id: str, *, instance_id: str, workspace_id: str
) -> None:
    deps.store.table.put(
        {
            "pk": f"CONN#{connection_id}",
            "sk": "CONN",
            "instance_id": instance_id,
            "workspace_id": workspace_id,
            "expires_at": int(time.time()) + CONNECTION_TTL_S,
        }
    )


def connection(deps: Deps, connection_id: str) -> dict[str, Any] | None:
    return deps.store.table.get(f"CONN#{connection_id}", "CONN")


def forget_connection(deps: Deps, connection_id: str) -> None:
    """On `$disconnect`: the instance is offline unless a newer connection replaced this one."""
    row = connection(deps, connection_id)
    deps.store.table.delete(f"CONN#{connection_id}", "CONN")
    if row is None:
        return
    instance = deps.store.find(Instance, row["workspace_id"], row["instance_id"])
    if instance and instance.connection_id == connection_id:
        mark_gone(deps, instance)


def mark_gone(deps: Deps, instance: Instance) -> None:
    """The agent is offline: out of the connected-agents sweep group too."""
    deps.store.set_fields(
        instance, agent_connected=False, connection_id=None, gsi3pk=None, gsi3sk=None
    )


# --- calls --------------------------------------------------------------------------------


def send(
    deps: Deps,
    instance: Instance,
    method: str,
    params: dict[str, Any],
    *,
    resumes: tuple[str, waits.What] | None = None,
) -> str:
    """Post a call to the instance's agent; returns the call id.

    `resumes` names a parked deploy wait that the reply completes.
    """
    if not instance.agent_connected or not instance.connection_id:
        raise AgentUnavailable(f"the agent of {instance.id} is not connected")
    call_id = new_id("call")
    row: dict[str, Any] = {
        "pk": f"CALL#{call_id}",
        "sk": "CALL",
        "instance_id": instance.id,
        "workspace_id": instance.workspace_id,
        "method": method,
        "state": "pending",
        "expires_at": int(time.time()) + CALL_TTL_S,
    }
    if resumes:
        row.update(deploy_id=resumes[0], what=resumes[1])
    deps.store.table.put(row)
    frame = json.dumps({"id": call_id, "type": "call", "method": method, "params": params})
    if len(frame.encode()) > MAX_FRAME_BYTES:
        raise InvalidInput(f"the {method} call is too large for one frame")
    try:
        _management(deps).post_to_connection(
            ConnectionId=instance.connection_id, Data=frame.encode()
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] in {"GoneException", "410"}:
            mark_gone(deps, instance)
            raise AgentUnavailable(
                f"the agent of {instance.id} went away; it will reconnect"
            ) from exc
        raise
    return call_id


def call(
    deps: Deps, instance: Instance, method: str, params: dict[str, Any], *, timeout_s: float = 20.0
) -> dict[str, Any]:
    """Make a call and wait briefly for its reply (for REST and MCP: logs, metrics, diagnose)."""
    call_id = send(deps, instance, method, params)
    deadline = time.monotonic() + timeout_s
    attempt = 0
    while time.monotonic() < deadline:
        row = deps.store.table.get(f"CALL#{call_id}", "CALL")
        if row and row["state"] == "done":
            return row["result"]
        if row and row["state"] == "error":
            error = row.get("error") or {}
            raise AgentCallFailed(
                f"the agent refused {method}: {error.get('message', 'unknown error')}",
                details={"agent_code": error.get("code")},
            )
        time.sleep(POLL_INTERVALS_S[min(attempt, len(POLL_INTERVALS_S) - 1)])
        attempt += 1
    raise AgentUnavailable(
        f"the agent of {instance.id} did not answer {method} within {timeout_s:.0f} s"
    )


# --- what agents send ($default) ------------------------------------------------------------


def receive(deps: Deps, connection_id: str, body: str) -> None:
    """Handle one message from an agent. Bad messages are logged and dropped."""
    row = connection(deps, connection_id)
    if row is None:
        logger.warning("message on an unknown connection", extra={"connection_id": connection_id})
        return
    try:
        message = json.loads(body)
    except (TypeError, ValueError):
        logger.warning("agent sent non-JSON", extra={"connection_id": connection_id})
        return
    if not isinstance(message, dict):
        return
    instance = deps.store.find(Instance, row["workspace_id"], row["instance_id"])
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
    deps.store.set_fields(
        instance,
        agent_connected=True,
        connection_id=connection_id,
        agent_version=info.get("version"),
        agent_info=info,
        connected_at=now.isoformat(),
        last_seen_at=now.isoformat(),
        gsi3pk="CONNECTED_AGENT",
        gsi3sk=now.isoformat(),
    )
    from vmkit.models import Environment

    env = deps.store.find(Environment, instance.workspace_id, instance.environment_id)
    if env and env.active_deploy_id:
        waits.resume(
            deps, env.active_deploy_id, "agent", output={"agent_version": info.get("version")}
        )


def _heartbeat(deps: Deps, instance: Instance, params: dict[str, Any]) -> None:
    now = utcnow().isoformat()
    fields: dict[str, Any] = {
        "last_seen_at": now,
        "agent_connected": True,
        "gsi3pk": "CONNECTED_AGENT",
        "gsi3sk": now,
    }
    if isinstance(params.get("metrics"), dict):
        fields.update(metrics=params["metrics"], metrics_at=now)
    deps.store.set_fields(instance, **fields)


def _reply(deps: Deps, instance: Instance, message: dict[str, Any]) -> None:
    call_id = message["id"]
    row = deps.store.table.get(f"CALL#{call_id}", "CALL")
    if row is None or row["instance_id"] != instance.id or row["state"] != "pending":
        return  # unknown, foreign or already answered: a late or replayed reply
    result = _assembled(deps, call_id, message)
    if result is None and message["type"] == "result":
        return  # more chunks to come
    if message["type"] == "error":
        error = message.get("error") if isinstance(message.get("error"), dict) else {}
        deps.store.table.update(
            f"CALL#{call_id}",
            "CALL",
            update="SET #s = :s, #e = :e",
            names={"#s": "state", "#e": "error"},
            values={
                ":s": "error",
                ":e": {
                    "code": str(error.get("code", "")),
                    "message": str(error.get("message", ""))[:1000],
                },
            },
        )
        if "deploy_id" in row:
            reason = f"the agent could not {row['method']}: {error.get('message', 'unknown error')}"
            waits.resume(deps, row["deploy_id"], row["what"], error="AgentCallFailed", cause=reason)
        return
    if row["method"] == "harden":
        deps.store.set_fields(instance, hardened_at=utcnow().isoformat())
    if "deploy_id" in row:
        deps.store.table.update(
            f"CALL#{call_id}",
            "CALL",
            update="SET #s = :s",
            names={"#s": "state"},
            values={":s": "done"},
        )
        waits.resume(
            deps, row["deploy_id"], row["what"], output={"method": row["method"], "ok": True}
        )
    else:
        deps.store.table.update(
            f"CALL#{call_id}",
            "CALL",
            update="SET #s = :s, #r = :r",
            names={"#s": "state", "#r": "result"},
            values={":s": "done", ":r": result},
        )


def _assembled(deps: Deps, call_id: str, message: dict[str, Any]) -> dict[str, Any] | None:
    """The whole result of a reply, joining chunked `logs_fetch` replies in order."""
    result = message.get("result") if isinstance(message.get("result"), dict) else {}
    chunk = message.get("chunk")
    if not isinstance(chunk, dict):
        return result
    index, count = int(chunk.get("index", 0)), int(chunk.get("count", 1))
    deps.store.table.put(
        {
            "pk": f"CALL#{call_id}",
            "sk": f"CHUNK#{index:05d}",
            "result": result,
            "expires_at": int(time.time()) + CALL_TTL_S,
        }
    )
    parts, _ = deps.store.table.query(f"CALL#{call_id}", sk_prefix="CHUNK#")
    if len(parts) < count:
        return None
    lines: list[Any] = []
    for part in sorted(parts, key=lambda p: p["sk"]):
        lines.extend(part["result"].get("lines", []))
    return {**result, "lines": lines}
