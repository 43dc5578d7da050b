"""Task tokens: how a deploy waits for the agent, the PR merge, the harden reply and the run.

A waiting state's Lambda parks its token (`store.waits`) with a TTL, then something
outside (a webhook, the agent's reply) resumes it. Resuming first marks the token
consumed with a conditional write, so a second webhook or a late reply is
acknowledged and ignored instead of resuming anything twice.
"""

from __future__ import annotations

from typing import Any

from vmkit.deps import Deps
from vmkit.observability import logger
from vmkit.store import Wait, WaitFor
from vmkit.store.runtime import expiry


def park(
    deps: Deps,
    deploy_id: str,
    what: WaitFor,
    token: str,
    *,
    ttl_seconds: int,
    repo_id: str | None = None,
) -> None:
    """Keep a task token until it is resumed (`repo_id` lets a merge find a PR wait)."""
    deps.store.waits.park(
        Wait(
            deploy_id=deploy_id,
            what=what,
            task_token=token,
            repo_id=repo_id,
            expires_at=expiry(ttl_seconds),
        )
    )


def resume(
    deps: Deps,
    deploy_id: str,
    what: WaitFor,
    *,
    output: dict[str, Any] | None = None,
    error: str | None = None,
    cause: str = "",
) -> bool:
    """Resume a parked wait once. Returns False if there was none or it was already resumed."""
    wait = deps.store.waits.consume(deploy_id, what)
    if wait is None:
        logger.info(
            "wait already resumed or never parked", extra={"deploy_id": deploy_id, "what": what}
        )
        return False
    try:
        if error:
            resumed = deps.executions.fail(wait.task_token, error=error, cause=cause)
        else:
            resumed = deps.executions.succeed(wait.task_token, output or {})
    except Exception:
        # Step Functions did not take it (throttled, unreachable): put the wait back, so
        # whatever retries (GitHub's redelivery, the agent's next message) can resume it.
        deps.store.waits.park(wait.model_copy(update={"consumed": False}))
        raise
    if not resumed:
        logger.info("wait had already ended", extra={"deploy_id": deploy_id, "what": what})
    return resumed
