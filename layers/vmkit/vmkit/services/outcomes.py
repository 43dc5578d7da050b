"""How a deploy ends, for whatever ends it: its last step, a cancel, the sweeper, a
failed start. Ending it frees its environment, and a deploy that succeeded records a
release.

Apart from `deploys` and `releases` (the commands people and agents give, which take
and return the API's schemas) so that the step functions and the sweeper, which only
end deploys, load none of the API's shapes in their cold start.
"""

from __future__ import annotations

from vmkit.deps import Deps
from vmkit.errors import Conflict
from vmkit.models import Deploy, DeployFailure, DeployStatus, Environment, Release, StepRecord


def finish_deploy(
    deps: Deps,
    deploy: Deploy,
    status: DeployStatus,
    failure: DeployFailure | None = None,
    *,
    stop_execution: str | None = None,
    step: StepRecord | None = None,
    url: str | None = None,
) -> Deploy:
    """End a deploy: stop its execution if asked (with that error name), record how it
    ended, and free its environment for the next deploy.

    The one way every deploy ends (its last step, a cancel, the sweeper, a failed
    start). Races settle on the deploy's version: if something else ended the deploy
    first (the execution finishing while a cancel is in flight), that ending stands and
    the environment is still freed, so no deploy is ever left holding one.
    """
    if stop_execution and deploy.execution_arn:
        deps.executions.stop(
            deploy.execution_arn,
            error=stop_execution,
            cause=failure.reason if failure else stop_execution,
        )
    while not deploy.status.terminal:
        deploy.transition(status)
        deploy.failure = failure or deploy.failure
        deploy.url = url if url is not None else deploy.url
        if step is not None:
            deploy.steps.append(step)
        try:
            deps.store.save(deploy)
        except Conflict:
            deploy = deps.store.get(Deploy, deploy.workspace_id, deploy.id)
    release_environment(deps, deploy)
    return deploy


def release_environment(deps: Deps, deploy: Deploy) -> None:
    """Free the deploy's environment, if this deploy still holds it."""
    while True:
        env = deps.store.find(Environment, deploy.workspace_id, deploy.environment_id)
        if env is None or env.active_deploy_id != deploy.id:
            return
        env.active_deploy_id = None
        try:
            deps.store.save(env)
            return
        except Conflict:
            continue


def record_release(deps: Deps, deploy: Deploy) -> Release:
    """The release a succeeded deploy made; recording it again returns the same one.

    The environment runs one deploy at a time, so the newest release is this deploy's
    when a retried MarkSucceeded gets here a second time. A number another writer took
    first (a release restored by hand) makes this one take the next.
    """
    env = deps.store.get(Environment, deploy.workspace_id, deploy.environment_id)
    while True:
        latest = next(iter(newest_releases(deps, env, limit=1)), None)
        if latest is not None and latest.deploy_id == deploy.id:
            return latest
        number = (latest.number if latest else 0) + 1
        assert deploy.commit_sha, "a deploy that succeeded has pinned its commit"
        release = Release(
            id=Release.id_for(env.id, number),
            workspace_id=env.workspace_id,
            environment_id=env.id,
            number=number,
            commit_sha=deploy.commit_sha,
            image_tag=deploy.image_version or deploy.commit_sha,
            ref=deploy.ref,
            deploy_id=deploy.id,
            action=deploy.action,
            rollback_of=deploy.rollback_to,
            requested_by=deploy.requested_by,
            interface=deploy.interface,
        )
        try:
            deps.store.create(release)
        except Conflict:
            continue
        deps.store.set_fields(deploy, release_number=number)
        return release


def newest_releases(deps: Deps, env: Environment, *, limit: int) -> list[Release]:
    """The environment's releases, newest first."""
    page = deps.store.list(
        Release, env.workspace_id, id_prefix=f"{env.id}.", limit=limit, newest_first=True
    )
    return page.items
