"""Rows that live outside any workspace: agent connections, agent calls, task-token
waits and webhook deliveries, each with its own small repository over the table.

They are short-lived (each carries a TTL) and keyed by a handle that arrives from
outside (a connection id from API Gateway, a call id in an agent's reply, a deploy id,
a delivery id from GitHub); the workspace they belong to is a field, checked by the
services that read them.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import Field

from vmkit.modelbase import Model
from vmkit.store.keys import (
    CALL_CHUNK_PREFIX,
    LOOKUP,
    call_chunk_sk,
    call_key,
    connection_key,
    delivery_key,
    pr_wait_handle,
    wait_key,
)
from vmkit.store.table import ConditionFailed, Table

WaitFor = Literal["pr", "agent", "harden", "workflow"]


def expiry(ttl_seconds: int) -> int:
    return int(time.time()) + ttl_seconds


class Connection(Model):
    """An agent's WebSocket connection, as API Gateway named it on `$connect`."""

    connection_id: str
    instance_id: str
    workspace_id: str
    expires_at: int


class AgentCall(Model):
    """A call posted to an agent, waiting for (or holding) its reply."""

    call_id: str
    instance_id: str
    workspace_id: str
    method: str
    state: Literal["pending", "done", "error"] = "pending"
    result: dict[str, Any] | None = None
    chunks: int | None = None  # a chunked result: in this many chunk rows
    error: dict[str, str] | None = None
    # The parked deploy wait the reply resumes, if a deploy step made the call.
    deploy_id: str | None = None
    what: WaitFor | None = None
    expires_at: int


class Wait(Model):
    """A deploy's parked task token, resumed once by whatever it waits for."""

    deploy_id: str
    what: WaitFor
    task_token: str = Field(repr=False)
    consumed: bool = False
    repo_id: str | None = None  # PR waits are found by repo when the merge arrives
    expires_at: int


class Delivery(Model):
    delivery_id: str
    event: str
    expires_at: int


class Connections:
    def __init__(self, table: Table):
        self.table = table

    def put(self, connection: Connection) -> None:
        pk, sk = connection_key(connection.connection_id)
        self.table.put({"pk": pk, "sk": sk, **connection.model_dump()})

    def get(self, connection_id: str) -> Connection | None:
        item = self.table.get(*connection_key(connection_id))
        return Connection.model_validate(item) if item else None

    def delete(self, connection_id: str) -> None:
        self.table.delete(*connection_key(connection_id))


class AgentCalls:
    def __init__(self, table: Table):
        self.table = table

    def put(self, call: AgentCall) -> None:
        pk, sk = call_key(call.call_id)
        self.table.put({"pk": pk, "sk": sk, **call.model_dump(exclude_none=True)})

    def get(self, call_id: str) -> AgentCall | None:
        item = self.table.get(*call_key(call_id))
        return AgentCall.model_validate(item) if item else None

    def finish(
        self,
        call_id: str,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, str] | None = None,
        chunks: int | None = None,
    ) -> bool:
        """Record the reply once; False if the call was already answered."""
        if error is not None:
            fields: dict[str, Any] = {"state": "error", "error": error}
        else:
            fields = {"state": "done", "result": result or {}}
            if chunks:
                fields["chunks"] = chunks
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        values = {f":v{i}": value for i, value in enumerate(fields.values())}
        pk, sk = call_key(call_id)
        try:
            self.table.update(
                pk,
                sk,
                update="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields))),
                condition="#state = :pending",
                names={**names, "#state": "state"},
                values={**values, ":pending": "pending"},
            )
        except ConditionFailed:
            return False
        return True

    def add_chunk(self, call_id: str, index: int, result: dict[str, Any], ttl_seconds: int) -> None:
        pk, _ = call_key(call_id)
        self.table.put(
            {
                "pk": pk,
                "sk": call_chunk_sk(index),
                "result": result,
                "expires_at": expiry(ttl_seconds),
            }
        )

    def chunks(self, call_id: str) -> list[dict[str, Any]]:
        """The chunks received so far, in order."""
        pk, _ = call_key(call_id)
        parts, _ = self.table.query(pk, sk_prefix=CALL_CHUNK_PREFIX)
        return [part["result"] for part in sorted(parts, key=lambda p: p["sk"])]


class Waits:
    def __init__(self, table: Table):
        self.table = table

    def park(self, wait: Wait) -> None:
        pk, sk = wait_key(wait.deploy_id, wait.what)
        item: dict[str, Any] = {"pk": pk, "sk": sk, **wait.model_dump(exclude_none=True)}
        if wait.repo_id:
            item.update(gsi1pk=pr_wait_handle(wait.repo_id), gsi1sk=wait.deploy_id)
        self.table.put(item)

    def consume(self, deploy_id: str, what: WaitFor) -> Wait | None:
        """Take a parked, unconsumed wait, exactly once; None if there is none."""
        pk, sk = wait_key(deploy_id, what)
        try:
            row = self.table.update(
                pk,
                sk,
                update="SET #c = :t REMOVE gsi1pk, gsi1sk",
                condition="#c = :f",
                names={"#c": "consumed"},  # a DynamoDB reserved word
                values={":t": True, ":f": False},
            )
        except ConditionFailed:
            return None
        return Wait.model_validate(row)

    def waiting_for_merge(self, repo_id: str) -> list[str]:
        """Deploy ids with an unconsumed PR wait on this repo."""
        items, _ = self.table.query(pr_wait_handle(repo_id), index=LOOKUP)
        return [item["gsi1sk"] for item in items]


class Deliveries:
    """Webhook deliveries already processed (GitHub's `X-GitHub-Delivery`)."""

    def __init__(self, table: Table):
        self.table = table

    def handled(self, delivery_id: str) -> bool:
        return self.table.get(*delivery_key(delivery_id)) is not None

    def record(self, delivery: Delivery) -> None:
        """Note a delivery as processed (after processing it, so a failed one is retried)."""
        pk, sk = delivery_key(delivery.delivery_id)
        self.table.put({"pk": pk, "sk": sk, **delivery.model_dump()})
