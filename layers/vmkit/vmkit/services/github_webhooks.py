"""GitHub App webhooks: verified, parsed, mapped to the one deploy that waits for them.

GitHub waits 10 s for an answer and does not redeliver by itself, so this does only
quick DynamoDB work and the Step Functions resume. Every installation of the App
shares one webhook secret, so a verified event proves it came from GitHub, not from
which tenant: an event acts only on repos connected through the installation it names,
and a run or a merge moves only a deploy that is waiting for exactly that run or PR.

A delivery is recorded as handled only once it was processed, so GitHub's redelivery
of a delivery that failed (a 5xx, a timeout) is processed, not dropped as a duplicate;
processing is idempotent (a wait resumes once), so a duplicate that slips through
while the first is still running changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any

from pydantic import ValidationError

from vmkit import github_payloads as gh
from vmkit.deps import Deps
from vmkit.errors import MalformedPayload, PayloadTooLarge, Unauthenticated
from vmkit.models import Deploy, DeployFailure, DeployStatus, OnboardingState, Repo
from vmkit.observability import logger
from vmkit.secrets import get_secret
from vmkit.services import installations, waits
from vmkit.services.onboarding import BRANCH
from vmkit.store import Delivery
from vmkit.store.runtime import expiry

DELIVERY_TTL_S = 7 * 24 * 3600
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit; GitHub caps at 25 MB
_DEPLOY_ID = re.compile(r"\bdep_[0-9A-HJKMNP-TV-Z]{26}\b")
_EVENTS: dict[str, type[gh._Event]] = {
    "pull_request": gh.PullRequestEvent,
    "workflow_run": gh.WorkflowRunEvent,
    "installation": gh.InstallationEvent,
    "installation_repositories": gh.InstallationRepositoriesEvent,
}


def verify(deps: Deps, body: bytes, signature: str | None) -> None:
    secret = get_secret(deps.settings.github_webhook_secret_parameter, "the GitHub webhook secret")
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not signature or not hmac.compare_digest(expected.encode(), signature.encode()):
        raise Unauthenticated("the webhook signature does not match", code="bad_signature")


def handle(deps: Deps, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """Process one delivery; returns what was done (for the 2xx body and the logs)."""
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"webhook bodies are limited to {MAX_BODY_BYTES} bytes")
    verify(deps, body, headers.get("x-hub-signature-256"))
    delivery, event = headers.get("x-github-delivery", ""), headers.get("x-github-event", "")
    if not delivery or not event or len(delivery) > 100 or len(event) > 100:
        raise MalformedPayload("X-GitHub-Delivery and X-GitHub-Event are required")
    if deps.store.deliveries.handled(delivery):
        return {"status": "duplicate", "delivery": delivery}
    model = _EVENTS.get(event)
    result = (
        {"status": "ignored", "event": event}
        if model is None
        else _process(deps, event, model, body)
    )
    deps.store.deliveries.record(
        Delivery(delivery_id=delivery, event=event, expires_at=expiry(DELIVERY_TTL_S))
    )
    return result


def _process(deps: Deps, event: str, model: type[gh._Event], body: bytes) -> dict[str, Any]:
    try:
        payload = model.model_validate(json.loads(body))
    except RecursionError as exc:
        raise MalformedPayload("the webhook body is nested too deeply") from exc
    except ValueError as exc:  # invalid JSON, or a ValidationError (a ValueError)
        raise MalformedPayload(
            f"the {event} payload is not what GitHub sends: {_first_problem(exc)}"
        ) from exc
    if isinstance(payload, gh.PullRequestEvent):
        return _pull_request(deps, payload)
    if isinstance(payload, gh.WorkflowRunEvent):
        return _workflow_run(deps, payload)
    if isinstance(payload, gh.InstallationEvent):
        return installations.on_installation(deps, payload)
    assert isinstance(payload, gh.InstallationRepositoriesEvent)
    return installations.on_repositories(deps, payload)


def _first_problem(exc: ValueError) -> str:
    if isinstance(exc, ValidationError):
        error = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in error["loc"]) or "body"
        return f"{where}: {error['msg']}"
    return "not JSON" if isinstance(exc, json.JSONDecodeError) else str(exc)[:200]


def _repos(
    deps: Deps, repository: gh.Repository, installation: gh.InstallationRef | None
) -> list[Repo]:
    """The connected repos this event is about: same GitHub repo, same installation."""
    if installation is None:
        return []
    return [
        repo
        for repo in deps.store.lookup_all(Repo, repository.id)
        if repo.full_name.lower() == repository.full_name.lower()
        and repo.installation_id == installation.id
    ]


def _pull_request(deps: Deps, event: gh.PullRequestEvent) -> dict[str, Any]:
    pr = event.pull_request
    if event.action != "closed" or not pr.merged or pr.head.ref != BRANCH:
        return {"status": "ignored", "event": "pull_request"}
    resumed = []
    for repo in _repos(deps, event.repository, event.installation):
        if repo.onboarding_pr_number != pr.number:
            continue  # not the onboarding PR VMKit opened
        repo.onboarding = OnboardingState.merged
        deps.store.save(repo)
        for deploy_id in deps.store.waits.waiting_for_merge(repo.id):
            if waits.resume(deps, deploy_id, "pr", output={"merged": True}):
                resumed.append(deploy_id)
    return {"status": "merged", "resumed": resumed}


def _workflow_run(deps: Deps, event: gh.WorkflowRunEvent) -> dict[str, Any]:
    run = event.workflow_run
    match = _DEPLOY_ID.search(f"{run.name or ''} {run.display_title or ''}")
    deploy = deps.store.lookup(Deploy, match.group(0)) if match else None
    if deploy is None:
        return {"status": "ignored", "event": "workflow_run"}
    if not any(r.id == deploy.repo_id for r in _repos(deps, event.repository, event.installation)):
        logger.warning(
            "workflow run names a deploy of another repo", extra={"deploy_id": deploy.id}
        )
        return {"status": "ignored", "event": "workflow_run"}
    return record_run(deps, deploy, run)


def record_run(deps: Deps, deploy: Deploy, run: gh.WorkflowRun) -> dict[str, Any]:
    """Note the run on a deploy waiting for it; on completion, resume it with the outcome.

    Only a deploy that is waiting for its workflow, and for this run (the first run
    reported for it), changes: an event for a finished deploy, or for another run of
    the same deploy, is acknowledged and changes nothing. Shared with the sweeper,
    which asks GitHub about runs whose webhook never came.
    """
    ignored = {"status": "ignored", "deploy_id": deploy.id}
    if deploy.status is not DeployStatus.waiting_for_workflow:
        return ignored
    if deploy.workflow_run_id is not None and deploy.workflow_run_id != run.id:
        return ignored
    if deploy.workflow_run_id is None:
        deps.store.set_fields(deploy, workflow_run_id=run.id, run_url=run.html_url)
    if run.head_sha and deploy.image_version is None and deploy.commit_sha != run.head_sha:
        # The run builds the branch as it was at dispatch (the onboarding PR's merge,
        # say), which is the commit the release records and tags the image with.
        deps.store.set_fields(deploy, commit_sha=run.head_sha)
    if run.status != "completed":
        return {"status": "progress", "deploy_id": deploy.id}
    conclusion = run.conclusion or "unknown"
    if conclusion == "success":
        resumed = waits.resume(
            deps, deploy.id, "workflow", output={"run_url": run.html_url, "conclusion": conclusion}
        )
    else:
        reason = f"the GitHub Actions run concluded '{conclusion}'; see its log: {run.html_url}"
        deps.store.set_fields(
            deploy, last_error=DeployFailure(step="DispatchWorkflow", reason=reason)
        )
        resumed = waits.resume(deps, deploy.id, "workflow", error="WorkflowRunFailed", cause=reason)
    return {
        "status": "completed" if resumed else "already_completed",
        "deploy_id": deploy.id,
        "conclusion": conclusion,
    }
