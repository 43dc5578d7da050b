"""The scheduled sweeper: what no event will ever report.

- deploys past their deadline (a lost task token, a stuck step) are stopped and failed;
- runs whose `workflow_run` webhook never came are looked up on GitHub;
- agents whose heartbeats stopped are marked disconnected (API Gateway's
  `$disconnect` is best effort, so silence is the only reliable signal).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from vmkit import agentrpc
from vmkit import github_payloads as gh
from vmkit.deps import Deps
from vmkit.errors import VMKitError
from vmkit.models import Deploy, DeployFailure, DeployStatus, Instance, Repo, utcnow
from vmkit.observability import logger
from vmkit.services import repos
from vmkit.services.deploys import finish_deploy
from vmkit.services.github_webhooks import record_run
from vmkit.services.orchestration import WORKFLOW_FILE

WEBHOOK_GRACE = timedelta(minutes=5)
AGENT_SILENCE = timedelta(minutes=10)  # heartbeats come every 4 minutes


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
    return {"overdue_deploys": overdue, "runs_reconciled": asked, "silent_agents": silent}


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
        ),
    )
    return outcome["status"] == "completed"
