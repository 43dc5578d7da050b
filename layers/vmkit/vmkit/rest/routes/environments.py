from fastapi import APIRouter, status

from vmkit.models import DeployAction
from vmkit.rest.deps import (
    Cursor,
    DepsDep,
    EnvironmentIdPath,
    Limit,
    PrincipalDep,
    RepoIdQuery,
)
from vmkit.schemas import (
    DeployCreate,
    DeployPlan,
    DeployPublic,
    EnvironmentCreate,
    EnvironmentPublic,
    EnvironmentUpdate,
    EnvVarsUpdate,
    ListOf,
    ReleasePublic,
    RollbackCreate,
    RotateCredentials,
    RotationResult,
)
from vmkit.services import deploys, environments, releases, rotation

router = APIRouter(prefix="/api/environments", tags=["environments"])


def _public(deps: DepsDep, env: environments.Environment) -> EnvironmentPublic:
    return EnvironmentPublic.from_record(
        env, deps.settings.apps_url_template, environments.monthly_cost(deps, env)
    )


@router.get("", name="list_environments")
def list_environments(
    deps: DepsDep,
    principal: PrincipalDep,
    repo_id: RepoIdQuery = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> ListOf[EnvironmentPublic]:
    page = environments.list_environments(
        deps, principal, repo_id=repo_id, limit=limit, cursor=cursor
    )
    return ListOf[EnvironmentPublic].of(page.map(lambda e: _public(deps, e)))


@router.post("", name="create_environment", status_code=status.HTTP_201_CREATED)
def create_environment(
    deps: DepsDep, principal: PrincipalDep, body: EnvironmentCreate
) -> EnvironmentPublic:
    return _public(deps, environments.create_environment(deps, principal, body))


@router.get("/{environment_id}", name="get_environment")
def get_environment(
    deps: DepsDep, principal: PrincipalDep, environment_id: EnvironmentIdPath
) -> EnvironmentPublic:
    return _public(deps, environments.get_environment(deps, principal, environment_id))


@router.patch("/{environment_id}", name="update_environment")
def update_environment(
    deps: DepsDep,
    principal: PrincipalDep,
    environment_id: EnvironmentIdPath,
    body: EnvironmentUpdate,
) -> EnvironmentPublic:
    return _public(deps, environments.update_environment(deps, principal, environment_id, body))


@router.patch("/{environment_id}/env-vars", name="set_env_vars")
def set_env_vars(
    deps: DepsDep, principal: PrincipalDep, environment_id: EnvironmentIdPath, body: EnvVarsUpdate
) -> EnvironmentPublic:
    return _public(deps, environments.set_env_vars(deps, principal, environment_id, body))


@router.delete(
    "/{environment_id}", name="destroy_environment", status_code=status.HTTP_202_ACCEPTED
)
def destroy_environment(
    deps: DepsDep, principal: PrincipalDep, environment_id: EnvironmentIdPath
) -> DeployPublic:
    """Tear the environment down: VM, DNS record and Actions secrets. The repo's files stay.

    Returns the teardown, which runs like a deploy; the environment is gone when it succeeds.
    """
    return DeployPublic.model_validate(deploys.destroy_environment(deps, principal, environment_id))


@router.post("/{environment_id}/deploys", name="start_deploy", status_code=status.HTTP_202_ACCEPTED)
def start_deploy(
    deps: DepsDep,
    principal: PrincipalDep,
    environment_id: EnvironmentIdPath,
    body: DeployCreate | None = None,
) -> DeployPublic:
    """Deploy the environment. One deploy runs per environment: a second gets 409 with the active one's id."""
    return DeployPublic.model_validate(
        deploys.start_deploy(deps, principal, environment_id, body or DeployCreate())
    )


@router.post(
    "/{environment_id}/reset", name="reset_environment", status_code=status.HTTP_202_ACCEPTED
)
def reset_environment(
    deps: DepsDep, principal: PrincipalDep, environment_id: EnvironmentIdPath
) -> DeployPublic:
    """Rebuild the VM from scratch and deploy again; DNS and env config are kept."""
    reset = deploys.start_deploy(
        deps, principal, environment_id, DeployCreate(), action=DeployAction.reset
    )
    return DeployPublic.model_validate(reset)


@router.get("/{environment_id}/plan", name="plan_deploy")
def plan_deploy(
    deps: DepsDep, principal: PrincipalDep, environment_id: EnvironmentIdPath
) -> DeployPlan:
    """What a deploy would create or change, and the VM's monthly cost. Changes nothing."""
    return deploys.plan_deploy(deps, principal, environment_id)


@router.get("/{environment_id}/releases", name="list_releases")
def list_releases(
    deps: DepsDep, principal: PrincipalDep, environment_id: EnvironmentIdPath, limit: Limit = 50
) -> ListOf[ReleasePublic]:
    """What the environment ran, newest first: every succeeded deploy, reset and rollback."""
    found = releases.list_releases(deps, principal, environment_id, limit=limit)
    return ListOf[ReleasePublic](items=ReleasePublic.listing(found))


@router.post(
    "/{environment_id}/rollback", name="rollback_environment", status_code=status.HTTP_202_ACCEPTED
)
def rollback_environment(
    deps: DepsDep,
    principal: PrincipalDep,
    environment_id: EnvironmentIdPath,
    body: RollbackCreate | None = None,
) -> DeployPublic:
    """Deploy an earlier release's image again, without building (default: the previous one).

    A rollback is a deploy: it has a timeline, is audited, and waits for no other deploy
    (409 while one runs). A release whose image is gone from the registry fails the run."""
    rollback = releases.start_rollback(
        deps, principal, environment_id, (body or RollbackCreate()).release
    )
    return DeployPublic.model_validate(rollback)


@router.post("/{environment_id}/rotate-credentials", name="rotate_credentials")
def rotate_credentials(
    deps: DepsDep,
    principal: PrincipalDep,
    environment_id: EnvironmentIdPath,
    body: RotateCredentials,
) -> RotationResult:
    """Replace the deploy key or the agent token, never locking the deploy path or the
    agent out: the old credential works until the new one is in place. Needs admin."""
    return rotation.rotate(deps, principal, environment_id, body.credential)
