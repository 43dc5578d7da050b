"""The scheduled sweeper: what no event will ever report.

- deploys past their deadline (a lost task token, a stuck step) are stopped and failed;
- deploys whose execution is gone (or ended without ending them) are failed: nothing
  will ever resume their waits. On AWS that is an execution lost or broken; on the
  local stack every restart loses them all, and it runs `after_restart` at start;
- runs whose `workflow_run` webhook never came are looked up on GitHub;
- agents whose heartbeats stopped are marked disconnected (API Gateway's
  `$disconnect` is best effort, so silence is the only reliable signal);
- VMs VMKit made that no environment has any more (their records lost, or replaced)
  are destroyed, so nobody pays for a server nothing manages.

Terminal deploys are never touched: a cancelled deploy stays cancelled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from vmkit import agentrpc
from vmkit import github_payloads as gh
from vmkit.deps import Deps
from vmkit.errors import ProviderError, VMKitError
from vmkit.models import (
    ComputeTarget,
    Deploy,
    DeployFailure,
    DeployStatus,
    Environment,
    Instance,
    InstanceStatus,
    Repo,
    utcnow,
)
from vmkit.observability import MetricUnit, logger, metrics
from vmkit.services import repos
from vmkit.services.github_webhooks import record_run
from vmkit.services.orchestration import INSTANCE_LABEL, MANAGED_LABEL, WORKFLOW_FILE
from vmkit.services.outcomes import finish_deploy

WEBHOOK_GRACE = timedelta(minutes=5)
AGENT_SILENCE = timedelta(minutes=10)  # heartbeats come every 4 minutes
RESTARTED = "the control plane restarted during this deploy; deploy again"


class _Survivor:
    """Runs one sweep task per item so a failing item (a bug, a throttled call, a
    package the artifact lacks) is logged and counted, and the others still run: a
    sweep that died on its first error would leave every later deploy stuck."""

    def __init__(self) -> None:
        self.failed: list[dict[str, str]] = []

    def each(self, task: str, items: Iterable[Any], act: Callable[[Any], bool]) -> list[str]:
        done = []
        for item in items:
            try:
                if act(item):
                    done.append(str(item.id))
            except Exception:
                logger.exception(
                    "a sweep item failed; the sweep goes on", extra={"task": task, "item": item.id}
                )
                metrics.add_metric(name="SweepItemFailed", unit=MetricUnit.Count, value=1)
                self.failed.append({"task": task, "id": str(item.id)})
        return done


def sweep(deps: Deps) -> dict[str, Any]:
    now = utcnow()
    survivor = _Survivor()
    active = [deploy for deploy in deps.store.sweep(Deploy) if not deploy.status.terminal]

    def overdue(deploy: Deploy) -> bool:
        if deploy.deadline_at and deploy.deadline_at < now:
            _fail_overdue(deps, deploy)
            return True
        return False

    def ask_github(deploy: Deploy) -> bool:
        return (
            not (deploy.deadline_at and deploy.deadline_at < now)
            and deploy.status is DeployStatus.waiting_for_workflow
            and deploy.updated_at < now - WEBHOOK_GRACE
            and _ask_github(deps, deploy)
        )

    def silent(instance: Instance) -> bool:
        agentrpc.mark_gone(deps, instance)
        return True

    result = {
        "overdue_deploys": survivor.each("overdue_deploys", active, overdue),
        "runs_reconciled": survivor.each("runs_reconciled", active, ask_github),
        "silent_agents": survivor.each(
            "silent_agents",
            deps.store.sweep(Instance, older_than=(now - AGENT_SILENCE).isoformat()),
            silent,
        ),
        "lost_executions": _fail_lost_executions(
            deps, survivor, timedelta(seconds=deps.settings.execution_grace_seconds)
        ),
        "orphan_servers": _destroy_orphan_servers(deps, survivor),
    }
    return {**result, "failed_items": survivor.failed}


def after_restart(deps: Deps) -> dict[str, Any]:
    """What a control plane that lost its executions does first when it starts again."""
    survivor = _Survivor()
    result = {
        "lost_executions": _fail_lost_executions(deps, survivor, timedelta(0)),
        "orphan_servers": _destroy_orphan_servers(deps, survivor),
    }
    return {**result, "failed_items": survivor.failed}


def _fail_lost_executions(deps: Deps, survivor: _Survivor, grace: timedelta) -> list[str]:
    """Fail the active deploys whose execution no longer runs; returns their ids."""
    settled_before = utcnow() - grace

    def lost(deploy: Deploy) -> bool:
        if deploy.status.terminal or not deploy.execution_arn:
            return False
        if deploy.updated_at > settled_before:
            return False
        status = deps.executions.status(deploy.execution_arn)
        if status == "RUNNING":
            return False
        reason = (
            RESTARTED
            if status is None
            else f"its execution ended ({status.lower()}) before the deploy did; deploy again"
        )
        step = deploy.steps[-1].name if deploy.steps else "queued"
        finish_deploy(deps, deploy, DeployStatus.failed, DeployFailure(step=step, reason=reason))
        logger.warning(
            "failed a deploy whose execution is gone",
            extra={"deploy_id": deploy.id, "execution_status": status},
        )
        return True

    return survivor.each("lost_executions", deps.store.sweep(Deploy), lost)


def _destroy_orphan_servers(deps: Deps, survivor: _Survivor) -> list[str]:
    """Delete the servers VMKit labelled as its own that no environment has; their ids.

    A server names its instance by label. It is kept when some workspace owning a
    target still has that instance, not destroyed, as its environment's VM. Instances
    are looked up in every workspace that has a target, since targets of several
    workspaces may share one provider account (the local one always does).
    """
    targets = deps.store.sweep(ComputeTarget)
    workspaces = sorted({target.workspace_id for target in targets})
    deleted: list[str] = []
    seen: set[tuple[str, str]] = set()

    def sweep_target(target: ComputeTarget) -> bool:
        compute = deps.compute(target)
        try:
            servers = compute.find_servers({MANAGED_LABEL: "true"})
        except ProviderError as exc:  # a revoked token: that target's VMs wait for the next sweep
            logger.warning(
                "could not list a target's servers",
                extra={"target_id": target.id, "reason": exc.message},
            )
            return False
        for server in servers:
            if (target.provider.value, server.id) in seen:
                continue
            seen.add((target.provider.value, server.id))
            if _has_environment(deps, workspaces, server.labels.get(INSTANCE_LABEL)):
                continue
            try:
                compute.delete_server(server.id)
            except ProviderError as exc:  # tried again at the next sweep
                logger.warning(
                    "could not destroy a server no environment has",
                    extra={"server_id": server.id, "reason": exc.message},
                )
                continue
            logger.warning(
                "destroyed a server no environment has",
                extra={"server_id": server.id, "instance_id": server.labels.get(INSTANCE_LABEL)},
            )
            deleted.append(server.id)
        return False  # its servers are in `deleted`

    survivor.each("orphan_servers", targets, sweep_target)
    return deleted


def _has_environment(deps: Deps, workspaces: list[str], instance_id: str | None) -> bool:
    if not instance_id:
        return False
    for workspace_id in workspaces:
        instance = deps.store.find(Instance, workspace_id, instance_id)
        if instance is None:
            continue
        if instance.status is InstanceStatus.destroyed:
            return False
        env = deps.store.find(Environment, workspace_id, instance.environment_id)
        return env is not None and env.instance_id == instance.id
    return False


def _fail_overdue(deps: Deps, deploy: Deploy) -> None:
    step = deploy.steps[-1].name if deploy.steps else "queued"
    failure = DeployFailure(
        step=step, reason=f"did not finish before its deadline (stuck at {step})"
    )
    finish_deploy(deps, deploy, DeployStatus.failed, failure, stop_execution="DeadlineExceeded")


def _ask_github(deps: Deps, deploy: Deploy) -> bool:
    repo = deps.store.get(Repo, deploy.workspace_id, deploy.repo_id)
    try:
        run = repos.forge(deps, repo).find_run(WORKFLOW_FILE, deploy.id)
    except VMKitError as exc:  # GitHub down, or the repo no longer reachable
        logger.warning(
            "could not ask GitHub about a run",
            extra={"deploy_id": deploy.id, "reason": exc.message},
        )
        return False
    if run is None or run.status != "completed":
        return False
    outcome = record_run(
        deps,
        deploy,
        gh.WorkflowRun(
            id=run.id,
            name=run.name,
            status=run.status,
            conclusion=run.conclusion,
            html_url=run.html_url,
            head_sha=run.head_sha or None,
        ),
    )
    return outcome["status"] == "completed"
