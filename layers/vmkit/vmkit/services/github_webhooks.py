"""GitHub App webhooks: verified, deduplicated, and mapped to the deploy waiting on them.

GitHub waits 10 s for an answer and does not retry on its own, so this does only
quick DynamoDB work and the Step Functions resume. Every installation of the App
shares one webhook secret, so a verified event proves it came from GitHub, not from
which repo: a run only resumes a deploy of the same repo.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any

from vmkit.deps import Deps
from vmkit.errors import InvalidInput, Unauthenticated
from vmkit.models import Deploy, DeployFailure, OnboardingState, Repo
from vmkit.observability import logger
from vmkit.secrets import get_secret
from vmkit.services import waits
from vmkit.services.onboarding import BRANCH
from vmkit.store import Delivery
from vmkit.store.runtime import expiry

DELIVERY_TTL_S = 7 * 24 * 3600
_DEPLOY_ID = re.compile(r"\bdep_[0-9A-HJKMNP-TV-Z]{26}\b")


def verify(deps: Deps, body: bytes, signature: str | None) -> None:
    secret = get_secret(deps.settings.github_webhook_secret, "the GitHub webhook secret")
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not signature or not hmac.compare_digest(expected.encode(), signature.encode()):
        raise Unauthenticated("the webhook signature does not match", code="bad_signature")


def handle(deps: Deps, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """Process one delivery; returns what was done (for the 2xx body and the logs)."""
    verify(deps, body, headers.get("x-hub-signature-256"))
    delivery, event = headers.get("x-github-delivery", ""), headers.get("x-github-event", "")
    if not delivery or not event:
        raise InvalidInput("X-GitHub-Delivery and X-GitHub-Event are required")
    fresh = deps.store.deliveries.claim(
        Delivery(delivery_id=delivery, event=event, expires_at=expiry(DELIVERY_TTL_S))
    )
    if not fresh:
        return {"status": "duplicate", "delivery": delivery}
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise InvalidInput("the webhook body is not JSON") from exc
    if event == "pull_request":
        return _pull_request(deps, payload)
    if event == "workflow_run":
        return _workflow_run(deps, payload)
    return {"status": "ignored", "event": event}


def _repos(deps: Deps, payload: dict[str, Any]) -> list[Repo]:
    repository = payload.get("repository") or {}
    repos = deps.store.lookup_all(Repo, str(repository.get("id")))
    return [r for r in repos if r.full_name.lower() == str(repository.get("full_name", "")).lower()]


def _pull_request(deps: Deps, payload: dict[str, Any]) -> dict[str, Any]:
    pr = payload.get("pull_request") or {}
    if (
        payload.get("action") != "closed"
        or not pr.get("merged")
        or (pr.get("head") or {}).get("ref") != BRANCH
    ):
        return {"status": "ignored", "event": "pull_request"}
    resumed = []
    for repo in _repos(deps, payload):
        repo.onboarding = OnboardingState.merged
        deps.store.save(repo)
        for deploy_id in deps.store.waits.waiting_for_merge(repo.id):
            if waits.resume(deps, deploy_id, "pr", output={"merged": True}):
                resumed.append(deploy_id)
    return {"status": "merged", "resumed": resumed}


def _workflow_run(deps: Deps, payload: dict[str, Any]) -> dict[str, Any]:
    run = payload.get("workflow_run") or {}
    match = _DEPLOY_ID.search(f"{run.get('name', '')} {run.get('display_title', '')}")
    deploy = deps.store.lookup(Deploy, match.group(0)) if match else None
    if deploy is None:
        return {"status": "ignored", "event": "workflow_run"}
    repo = deps.store.find(Repo, deploy.workspace_id, deploy.repo_id)
    full_name = str((payload.get("repository") or {}).get("full_name", "")).lower()
    if repo is None or repo.full_name.lower() != full_name:
        logger.warning(
            "workflow run names a deploy of another repo", extra={"deploy_id": deploy.id}
        )
        return {"status": "ignored", "event": "workflow_run"}
    return record_run(deps, deploy, run)


def record_run(deps: Deps, deploy: Deploy, run: dict[str, Any]) -> dict[str, Any]:
    """Note the run on the deploy; on completion resume the deploy with its outcome.

    Shared with the reconciler, which asks GitHub about runs whose webhook never came.
    """
    url = run.get("html_url")
    deps.store.set_fields(deploy, workflow_run_id=run.get("id"), run_url=url)
    if run.get("status") != "completed":
        return {"status": "progress", "deploy_id": deploy.id}
    conclusion = run.get("conclusion") or "unknown"
    if conclusion == "success":
        resumed = waits.resume(
            deps, deploy.id, "workflow", output={"run_url": url, "conclusion": conclusion}
        )
    else:
        reason = f"the GitHub Actions run concluded '{conclusion}'; see its log: {url}"
        deps.store.set_fields(
            deploy, last_error=DeployFailure(step="DispatchWorkflow", reason=reason).model_dump()
        )
        resumed = waits.resume(deps, deploy.id, "workflow", error="WorkflowRunFailed", cause=reason)
    return {
        "status": "completed" if resumed else "already_completed",
        "deploy_id": deploy.id,
        "conclusion": conclusion,
    }
