"""Deploying, following, listing and cancelling deploys, releases and rollback, and
destroying an environment."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from vmkit.mcp.tools.common import CHANGES, DESTROYS, READS, ToolSpec, caller
from vmkit.schemas import (
    Cursor,
    DeployCreate,
    DeployId,
    DeployPlan,
    DeployPublic,
    EnvironmentId,
    Limit,
    ListOf,
    Output,
    ReleaseNumber,
    ReleasePublic,
    RollbackPlan,
)
from vmkit.services import deploys, releases


class DeployResult(Output):
    """Either the deploy that was started, or (for a dry run) the plan."""

    dry_run: bool
    deploy: DeployPublic | None = Field(
        default=None, description="The deploy that was started; null for a dry run."
    )
    plan: DeployPlan | None = Field(
        default=None, description="What a deploy would do and cost; only for a dry run."
    )


def deploy(
    environment_id: EnvironmentId,
    ref: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=255,
            description="Branch, tag or commit to deploy; the repo's default branch if omitted.",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        Field(
            description="true: change nothing and return the plan (what would be created or "
            "changed, and the VM's monthly cost)."
        ),
    ] = False,
) -> DeployResult:
    """Deploy an environment's repo to its VM and serve it at the environment's URL.

    With dry_run: true nothing changes: the plan lists what the deploy would create,
    reuse or update (onboarding PR, VM, DNS record, GitHub Actions secrets, the
    Actions run) with the VM's estimated monthly cost in USD; show it to the user
    before a first deploy. Without dry_run the deploy starts and runs for a few
    minutes: it opens the onboarding PR if the repo lacks VMKit's workflow (and
    waits for the user to merge it), creates the VM if there is none, hardens it,
    points DNS at it, sets the deploy secrets and runs the repo's Actions workflow
    (buildpacks build, push to GHCR, kamal deploy). It returns at once with the
    deploy's id and status queued. Next: call get_deploy with that id every 10-20
    seconds until status is succeeded or failed. One deploy runs per environment at
    a time. Needs the deploy scope (a dry run needs only read).
    """
    c = caller()
    if dry_run:
        plan = deploys.plan_deploy(c.deps, c.principal, environment_id)
        return DeployResult(dry_run=True, plan=plan)
    started = deploys.start_deploy(c.deps, c.principal, environment_id, DeployCreate(ref=ref))
    return DeployResult(dry_run=False, deploy=DeployPublic.model_validate(started))


def get_deploy(deploy_id: DeployId) -> DeployPublic:
    """Follow a deploy (or a teardown): its status, each step so far, and the outcome.

    status is one of queued, running, waiting_for_pr (the user must merge the
    onboarding PR; tell them its URL, from list_repos), waiting_for_agent,
    waiting_for_harden, waiting_for_workflow, then succeeded, failed or cancelled.
    steps lists each step with its time and detail. On success url is the live app;
    on failure, failure names the step and the reason and run_url links to the
    GitHub Actions log. Poll every 10-20 seconds while the status is not final; a
    deploy usually finishes within ten minutes. After a failure, get_logs and
    diagnose help find out why.
    """
    c = caller()
    return DeployPublic.model_validate(deploys.get_deploy(c.deps, c.principal, deploy_id))


def destroy_environment(
    environment_id: EnvironmentId,
    confirm: Annotated[
        str,
        Field(
            min_length=1,
            max_length=64,
            description="The environment's name (e.g. production), typed out to confirm.",
        ),
    ],
) -> DeployPublic:
    """Destroy an environment for good: delete its VM, DNS record and deploy secrets.

    This deletes the server and everything on it, including any data the app kept
    there, and cannot be undone. Only call it when the user has asked for it, and
    pass the environment's name as confirm; a mismatch is refused and nothing
    happens. The repo and its files stay. Returns the teardown, which runs like a
    deploy: follow it with get_deploy until succeeded; the environment then
    disappears from list_environments. Needs the admin scope.
    """
    c = caller()
    teardown = deploys.destroy_environment(c.deps, c.principal, environment_id, confirm=confirm)
    return DeployPublic.model_validate(teardown)


def list_deploys(
    environment_id: Annotated[
        EnvironmentId | None, Field(description="Only this environment's deploys.")
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> ListOf[DeployPublic]:
    """List deploys (and resets, rollbacks, teardowns), newest first, with their status.

    Use it to find the deploy that is running on an environment (to follow it with
    get_deploy or stop it with cancel_deploy), or to see how recent deploys ended
    and why one failed (failure, run_url). For what ran successfully, in order, use
    list_releases instead. Needs the read scope.
    """
    c = caller()
    page = deploys.list_deploys(
        c.deps, c.principal, environment_id=environment_id, limit=limit, cursor=cursor
    )
    return ListOf[DeployPublic].of(page.map(DeployPublic.model_validate))


def cancel_deploy(deploy_id: DeployId) -> DeployPublic:
    """Stop a deploy that is still running; it ends as cancelled.

    Use it when a deploy waits on something that will not happen (an onboarding PR
    nobody will merge, a workflow that hangs) or was started by mistake, and another
    deploy must run: an environment runs one deploy at a time. What the deploy
    already created (VM, DNS record, secrets) stays, and the next deploy reuses it;
    the app keeps serving its current release. A deploy that already ended is
    refused (deploy_ended). Needs the deploy scope.
    """
    c = caller()
    return DeployPublic.model_validate(deploys.cancel_deploy(c.deps, c.principal, deploy_id))


def list_releases(environment_id: EnvironmentId, limit: Limit = 50) -> ListOf[ReleasePublic]:
    """What an environment ran, newest first: one release per succeeded deploy.

    Each release has its number, commit_sha, image_tag, who deployed it and when,
    and its deploy_id; current is true for the one that runs now. Use it before
    rollback, to pick the release to go back to, or to tell the user which commit
    is live. Needs the read scope.
    """
    c = caller()
    found = releases.list_releases(c.deps, c.principal, environment_id, limit=limit)
    return ListOf[ReleasePublic](items=ReleasePublic.listing(found))


class RollbackResult(Output):
    """Either the rollback that was started, or (for a dry run) what it would deploy."""

    dry_run: bool
    deploy: DeployPublic | None = Field(
        default=None, description="The rollback deploy that was started; null for a dry run."
    )
    plan: RollbackPlan | None = Field(
        default=None, description="The release and image it would deploy; only for a dry run."
    )


def rollback(
    environment_id: EnvironmentId,
    release: Annotated[
        ReleaseNumber | None,
        Field(
            description="The release number to go back to (from list_releases); default: the "
            "newest release that ran another image than the current one."
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        Field(description="true: change nothing and return which release and image it would use."),
    ] = False,
) -> RollbackResult:
    """Put an earlier release back: redeploy its image without building it again.

    Use it when the latest deploy broke the app and the fix is not ready: it is
    faster and safer than deploying an older commit, since nothing is rebuilt. The
    current Kamal config, env vars and secrets are used with the old image. Try
    dry_run: true first to see which release and image would go live. A rollback is
    a deploy: it returns the deploy at once (status queued); follow it with
    get_deploy until succeeded, when a new release is recorded. It is refused while
    another deploy runs (409, with its id), and fails with a clear reason if the
    release's image is no longer in the registry (then deploy that commit instead).
    Needs the deploy scope (a dry run needs only read).
    """
    c = caller()
    if dry_run:
        plan = releases.plan_rollback(c.deps, c.principal, environment_id, release)
        return RollbackResult(dry_run=True, plan=plan)
    started = releases.start_rollback(c.deps, c.principal, environment_id, release)
    return RollbackResult(dry_run=False, deploy=DeployPublic.model_validate(started))


TOOLS = [
    ToolSpec(deploy, CHANGES),
    ToolSpec(get_deploy, READS),
    ToolSpec(list_deploys, READS),
    ToolSpec(cancel_deploy, CHANGES),
    ToolSpec(list_releases, READS),
    ToolSpec(rollback, CHANGES),
    ToolSpec(destroy_environment, DESTROYS),
]
