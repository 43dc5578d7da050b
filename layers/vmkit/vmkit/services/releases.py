"""Releases and rollback: what an environment ran, and bringing an earlier one back.

Every deploy that succeeds (a deploy, a reset, a rollback) records a release, numbered
per environment from 1. A rollback is a deploy like any other (same state machine,
same timeline, audit and one-at-a-time rule) whose workflow input names the release's
image version, so the workflow skips the build and Kamal boots that image, as `kamal
deploy --skip-push --version` does. Whether the image is still in the registry only
the workflow can see (GHCR's API does not take a GitHub App's token), so a rollback to
a deleted image fails in the run, and the deploy's reason quotes the run's error.
"""

from __future__ import annotations

from vmkit.auth import Principal
from vmkit.deps import Deps
from vmkit.errors import Conflict, InvalidInput, NotFound
from vmkit.models import Deploy, DeployAction, Environment, Release, Repo, Scope
from vmkit.schemas import DeployCreate, RollbackPlan
from vmkit.services import deploys
from vmkit.services.outcomes import newest_releases

RELEASES_PAGE = 100


def list_releases(
    deps: Deps, principal: Principal, environment_id: str, *, limit: int = 50
) -> list[Release]:
    """The environment's releases, newest first."""
    principal.require(Scope.read)
    principal.require_environment(environment_id)
    env = deps.store.get(Environment, principal.workspace_id, environment_id)
    return newest_releases(deps, env, limit=limit)


def _target(deps: Deps, env: Environment, number: int | None) -> tuple[Release, Release]:
    """The release to roll back to (default: the one before the current) and the current."""
    releases = newest_releases(deps, env, limit=RELEASES_PAGE)
    if not releases:
        raise Conflict(
            f"{env.name} has no release yet: deploy it first, then a rollback can bring an "
            "earlier release back",
            code="no_release",
        )
    current = releases[0]
    if number is None:  # the newest release that ran another image than the current
        previous = next((r for r in releases[1:] if r.image_tag != current.image_tag), None)
        if previous is None:
            raise Conflict(
                f"{env.name} has run only one image so far (release {current.number}): "
                "there is no earlier one to roll back to",
                code="no_previous_release",
            )
        return previous, current
    target = deps.store.find(Release, env.workspace_id, Release.id_for(env.id, number))
    if target is None:
        raise NotFound(
            f"{env.name} has no release {number}; list them with GET "
            f"/api/environments/{env.id}/releases",
            code="release_not_found",
        )
    if target.image_tag == current.image_tag:
        raise InvalidInput(
            f"release {number}'s image ({target.image_tag[:12]}) is what {env.name} runs now "
            f"(release {current.number}); nothing to roll back",
            code="release_is_current",
        )
    return target, current


def plan_rollback(
    deps: Deps, principal: Principal, environment_id: str, release: int | None = None
) -> RollbackPlan:
    """What a rollback would deploy, without starting it (refused the same way)."""
    principal.require(Scope.read)
    principal.require_environment(environment_id)
    env = deps.store.get(Environment, principal.workspace_id, environment_id)
    target, current = _target(deps, env, release)
    return RollbackPlan(
        environment_id=env.id,
        release=target.number,
        image_tag=target.image_tag,
        commit_sha=target.commit_sha,
        current_release=current.number,
        current_image_tag=current.image_tag,
        blocked_by=env.active_deploy_id,
    )


def start_rollback(
    deps: Deps, principal: Principal, environment_id: str, release: int | None = None
) -> Deploy:
    """Start a deploy of an earlier release's image, with the current config and secrets."""
    principal.require(Scope.deploy)
    principal.require_environment(environment_id)
    env = deps.store.get(Environment, principal.workspace_id, environment_id)
    target, _ = _target(deps, env, release)
    repo = deps.store.get(Repo, env.workspace_id, env.repo_id)
    # The workflow and Kamal config come from the branch the release was deployed from;
    # the image is the release's own.
    return deploys.start_deploy(
        deps,
        principal,
        environment_id,
        DeployCreate(ref=target.ref or repo.default_branch),
        action=DeployAction.rollback,
        image_version=target.image_tag,
        rollback_to=target.number,
        commit_sha=target.commit_sha,
    )
