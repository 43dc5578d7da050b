"""Getting a repo ready: compute targets, repos, scanning, onboarding, environments."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from vmkit import catalog
from vmkit.ai.scan_result import ScanResult
from vmkit.mcp.tools.common import CHANGES, READS, REPEATABLE_CHANGES, ToolSpec, caller
from vmkit.models import Provider
from vmkit.schemas import (
    ComputeTargetPublic,
    Cursor,
    EnvironmentCreate,
    EnvironmentId,
    EnvironmentPublic,
    EnvSlug,
    EnvVarInput,
    EnvVarName,
    EnvVarsUpdate,
    Limit,
    ListOf,
    RegionName,
    RepoId,
    RepoPublic,
    ServerTypeName,
    TargetId,
)
from vmkit.services import compute_targets, environments, onboarding, repos
from vmkit.services.onboarding import OnboardingResult

SIZES_BY_PROVIDER = "; ".join(
    f"for {provider.value}: {catalog.sizes_summary(provider)} (default "
    f"{catalog.default_server_type(provider)}; regions {', '.join(catalog.offer(provider).regions)})"
    for provider in (Provider.hetzner, Provider.digitalocean)
)


def list_compute_targets(limit: Limit = 50, cursor: Cursor = None) -> ListOf[ComputeTargetPublic]:
    """List the workspace's compute targets: the cloud accounts VMKit creates VMs in.

    Use it before create_environment, whose compute_target_id must be one of these
    ids. Each target shows its provider, default region and the public half of its
    deploy SSH key; provider tokens are never shown. Providers: hetzner (Hetzner
    Cloud; ARM64 cax VMs in the EU: fsn1, nbg1, hel1; from $4.50/month),
    digitalocean (DigitalOcean Droplets; x86-64 in North America, Europe, India,
    Singapore and Australia; from $12/month) and local (a sandbox VM on the machine
    running VMKit, free). The sizes and regions of each are in create_environment's
    server_type description. An empty list means the user has not registered a cloud account yet: ask
    them to add one with the vmkit CLI or the REST API (POST /api/compute-targets),
    which take the provider token; this server never handles it.
    """
    c = caller()
    page = compute_targets.list_targets(c.deps, c.principal, limit=limit, cursor=cursor)
    return ListOf[ComputeTargetPublic].of(page.map(ComputeTargetPublic.model_validate))


def list_repos(limit: Limit = 50, cursor: Cursor = None) -> ListOf[RepoPublic]:
    """List the GitHub repos connected to the workspace, with their ids.

    Use it to find the repo_id that scan_repo, onboard_repo and create_environment
    take. Each repo shows its onboarding state (not_started, pr_open, merged,
    already_onboarded), the onboarding pull request's URL if one is open, and the
    last scan's findings. A repo missing here is not connected yet: the user installs
    the VMKit GitHub App on it and connects it through the REST API
    (POST /api/repos), which needs an admin key.
    """
    c = caller()
    page = repos.list_repos(c.deps, c.principal, limit=limit, cursor=cursor)
    return ListOf[RepoPublic].of(page.map(RepoPublic.model_validate))


def scan_repo(repo_id: RepoId) -> ScanResult:
    """Read a connected repo through the GitHub App and report how VMKit would deploy it.

    Use it to learn what VMKit found before creating an environment or onboarding:
    language, framework, the port the app listens on, its health-check path, the
    services it needs (postgres, redis …), the environment variables it reads
    (names only, each marked secret or not) and whether Cloud Native Buildpacks can
    build it; every finding lists the file and evidence behind it. The result is
    also saved on the repo. Next: create_environment, then set_env_vars for the
    variables the scan lists. Needs a key with the deploy scope.
    """
    c = caller()
    return onboarding.scan_repo(c.deps, c.principal, repo_id)


def onboard_repo(
    repo_id: RepoId,
    environment_id: Annotated[
        EnvironmentId | None,
        Field(description="Environment whose host the config names; the repo's first if omitted."),
    ] = None,
    overwrite: Annotated[
        bool, Field(description="Replace files the repo already has (default: keep them).")
    ] = False,
) -> OnboardingResult:
    """Open (or update) the onboarding pull request that makes a repo deployable by VMKit.

    The PR adds .github/workflows/vmkit-deploy.yml, config/deploy.yml (Kamal 2),
    .kamal/secrets, env stubs and, only when buildpacks cannot build the app, a
    Dockerfile. Files the repo already has are kept unless overwrite is true. The
    repo needs an environment first (create_environment): the config names its
    host. The result gives the PR's URL, the files proposed and those kept. Next:
    ask the user to review and merge the PR; deploy also opens this PR by itself
    and waits for the merge, so calling this first is optional. Needs the deploy
    scope.
    """
    c = caller()
    return onboarding.onboard_repo(
        c.deps, c.principal, repo_id, environment_id=environment_id, overwrite=overwrite
    )


def create_environment(
    repo_id: RepoId,
    name: Annotated[
        EnvSlug,
        Field(
            description="Lowercase slug such as production, staging or pr-42; part of the app's "
            "hostname {repo}-{name}.{apps domain}."
        ),
    ],
    compute_target_id: TargetId,
    server_type: Annotated[
        ServerTypeName | None,
        Field(
            description=f"VM size, one the target's provider offers; {SIZES_BY_PROVIDER}. "
            "Local targets take hetzner's sizes. The provider's default if omitted; an "
            "unknown size is refused with the list of valid ones.",
        ),
    ] = None,
    region: Annotated[
        RegionName | None,
        Field(
            description="Region such as fsn1 (hetzner) or nyc3 (digitalocean); the target's "
            "default if omitted.",
        ),
    ] = None,
    env_vars: Annotated[
        list[EnvVarInput],
        Field(
            max_length=200,
            description="Initial variables; mark credentials secret (stored encrypted, never "
            "shown again).",
        ),
    ] = [],  # noqa: B006 (the SDK validates into a fresh list on every call)
) -> EnvironmentPublic:
    """Create an environment (production, staging, a preview …) for a connected repo.

    An environment is one VM of the chosen size in one region, a hostname
    {repo}-{name}.{apps domain} and its env vars. Creating it provisions nothing and
    costs nothing: the VM is created by the first deploy. The result includes the
    environment's id and the URL the app will be served at. Next: set_env_vars for
    anything the app needs, then deploy (try dry_run: true first to see the plan and
    monthly cost). Needs a key with the admin scope.
    """
    c = caller()
    data = EnvironmentCreate(
        repo_id=repo_id,
        name=name,
        compute_target_id=compute_target_id,
        server_type=server_type,
        region=region,
        env_vars=env_vars,
    )
    env = environments.create_environment(c.deps, c.principal, data)
    return EnvironmentPublic.from_record(
        env, c.deps.settings.apps_url_template, environments.monthly_cost(c.deps, env)
    )


def set_env_vars(
    environment_id: EnvironmentId,
    variables: Annotated[
        list[EnvVarInput],
        Field(
            max_length=200,
            description="Variables to add or replace: name (UPPER_SNAKE_CASE), value, and "
            "secret: true for credentials.",
        ),
    ] = [],  # noqa: B006 (the SDK validates into a fresh list on every call)
    unset: Annotated[
        list[EnvVarName], Field(max_length=200, description="Names of variables to remove.")
    ] = [],  # noqa: B006
) -> EnvironmentPublic:
    """Add, replace or remove an environment's variables.

    Secret values are encrypted at rest and come back masked as ******** in every
    result; plain values are shown. Variables not named are left as they are.
    Changes take effect on the next deploy, so call deploy afterwards for a running
    app to see them. Needs the deploy scope.
    """
    c = caller()
    env = environments.set_env_vars(
        c.deps, c.principal, environment_id, EnvVarsUpdate(set=variables, unset=unset)
    )
    return EnvironmentPublic.from_record(
        env, c.deps.settings.apps_url_template, environments.monthly_cost(c.deps, env)
    )


def list_environments(
    repo_id: Annotated[RepoId | None, Field(description="Only this repo's environments.")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> ListOf[EnvironmentPublic]:
    """List environments with their URL, VM size, region, env vars and current state.

    Use it to find an environment_id, to see whether an environment already has a VM
    (instance_id is set after the first deploy) and whether a deploy is running
    (active_deploy_id; follow it with get_deploy). Secret variables are masked.
    """
    c = caller()
    page = environments.list_environments(
        c.deps, c.principal, repo_id=repo_id, limit=limit, cursor=cursor
    )
    url_template = c.deps.settings.apps_url_template
    return ListOf[EnvironmentPublic].of(
        page.map(
            lambda e: EnvironmentPublic.from_record(
                e, url_template, environments.monthly_cost(c.deps, e)
            )
        )
    )


TOOLS = [
    ToolSpec(list_compute_targets, READS),
    ToolSpec(list_repos, READS),
    ToolSpec(scan_repo, REPEATABLE_CHANGES),
    ToolSpec(onboard_repo, REPEATABLE_CHANGES),
    ToolSpec(create_environment, CHANGES),
    ToolSpec(set_env_vars, REPEATABLE_CHANGES),
    ToolSpec(list_environments, READS),
]
