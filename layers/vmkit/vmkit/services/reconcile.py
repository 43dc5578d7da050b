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
from vmkit.observability import logger
from vmkit.services import repos
from vmkit.services.deploys import finish_deploy
from vmkit.services.github_webhooks import record_run
from vmkit.services.orchestration import INSTANCE_LABEL, MANAGED_LABEL, WORKFLOW_FILE

WEBHOOK_GRACE = timedelta(minutes=5)
AGENT_SILENCE = timedelta(minutes=10)  # heartbeats come every 4 minutes
# A deploy's record is written just before its execution starts: younger than this,
# a missing execution may simply not exist yet.
EXECUTION_GRACE = timedelta(minutes=2)
RESTARTED = "the control plane restarted during this deploy; deploy again"


def sweep(deps: Deps) -> dict[str, Any]:
    now = utcnow()
    overdue, asked = [], []
    for deploy in deps.store.sweep(Deploy):
        if deploy.status.terminal:
            continue
        if deploy.deadline_at and deploy.deadline_at < now:
            _fail_overdue(deps, deploy)
            overdue.append(deploy.id)
        elif (
            deploy.status is DeployStatus.waiting_for_workflow
            and deploy.updated_at < now - WEBHOOK_GRACE
            and _ask_github(deps, deploy)
        ):
            asked.append(deploy.id)
    silent = []
    for instance in deps.store.sweep(Instance, older_than=(now - AGENT_SILENCE).isoformat()):
        agentrpc.mark_gone(deps, instance)
        silent.append(instance.id)
    return {
        "overdue_deploys": overdue,
        "lost_executions": fail_lost_executions(deps),
        "runs_reconciled": asked,
        "silent_agents": silent,
        "orphan_servers": destroy_orphan_servers(deps),
    }


def after_restart(deps: Deps) -> dict[str, Any]:
    """What a control plane that lost its executions does first when it starts again."""
    return {
        "lost_executions": fail_lost_executions(deps, grace=timedelta(0)),
        "orphan_servers": destroy_orphan_servers(deps),
    }


def fail_lost_executions(deps: Deps, *, grace: timedelta = EXECUTION_GRACE) -> list[str]:
    """Fail the active deploys whose execution no longer runs; returns their ids."""
    failed = []
    settled_before = utcnow() - grace
    for deploy in deps.store.sweep(Deploy):
        if deploy.status.terminal or not deploy.execution_arn:
            continue
        if deploy.updated_at > settled_before:
            continue
        status = deps.executions.status(deploy.execution_arn)
        if status == "RUNNING":
            continue
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
        failed.append(deploy.id)
    return failed


def destroy_orphan_servers(deps: Deps) -> list[str]:
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
    for target in targets:
        compute = deps.compute(target)
        try:
            servers = compute.find_servers({MANAGED_LABEL: "true"})
        except ProviderError as exc:  # a revoked token: that target's VMs wait for the next sweep
            logger.warning(
                "could not list a target's servers",
                extra={"target_id": target.id, "reason": exc.message},
            )
            continue
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
