"""Task tokens: how a deploy waits for the agent, the PR merge, the harden reply and the run.

A waiting state's Lambda parks its token under `WAIT#{deploy}` / `{what}` with a TTL,
then something outside (a webhook, the agent's reply) resumes it. Resuming first
marks the token consumed with a conditional write, so a second webhook or a late
reply is acknowledged and ignored instead of resuming anything twice.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

from botocore.exceptions import ClientError

from vmkit.deps import Deps
from vmkit.observability import logger
from vmkit.store import ConditionFailed

What = Literal["pr", "agent", "harden", "workflow"]
_GONE = {"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"}


def _key(deploy_id: str) -> str:
    return f"WAIT#{deploy_id}"


def park(
    deps: Deps,
    deploy_id: str,
    what: What,
    token: str,
    *,
    ttl_seconds: int,
    lookup: str | None = None,
) -> None:
    """Keep a task token until it is resumed (`lookup` lets a webhook find it by repo)."""
    item: dict[str, Any] = {
        "pk": _key(deploy_id),
        "sk": what,
        "task_token": token,
        "consumed": False,
        "deploy_id": deploy_id,
        "expires_at": int(time.time()) + ttl_seconds,
    }
    if lookup:
        item.update(gsi1pk=lookup, gsi1sk=deploy_id)
    deps.store.table.put(item)


def waiting(deps: Deps, lookup: str) -> list[str]:
    """Deploy ids with an unconsumed wait registered under `lookup`."""
    items, _ = deps.store.table.query(lookup, index="gsi1")
    return [i["pk"].removeprefix("WAIT#") for i in items]


def resume(
    deps: Deps,
    deploy_id: str,
    what: What,
    *,
    output: dict[str, Any] | None = None,
    error: str | None = None,
    cause: str = "",
) -> bool:
    """Resume a parked wait once. Returns False if there was none or it was already resumed."""
    try:
        row = deps.store.table.update(
            _key(deploy_id),
            what,
            update="SET #c = :t REMOVE gsi1pk, gsi1sk",
            condition="#c = :f",
            names={"#c": "consumed"},  # a DynamoDB reserved word
            values={":t": True, ":f": False},
        )
    except ConditionFailed:
        logger.info(
            "wait already resumed or never parked", extra={"deploy_id": deploy_id, "what": what}
        )
        return False
    sfn = deps.client("stepfunctions")
    try:
        if error:
            sfn.send_task_failure(taskToken=row["task_token"], error=error, cause=cause[:32768])
        else:
            sfn.send_task_success(taskToken=row["task_token"], output=json.dumps(output or {}))
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in _GONE:
            raise
        logger.info("wait had already ended", extra={"deploy_id": deploy_id, "what": what})
        return False
    return True
