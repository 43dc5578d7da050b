"""Repos connected to a workspace, each through a GitHub App installation the workspace
holds (`vmkit.services.installations`) that covers it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmkit.auth import Principal
from vmkit.deps import Deps
from vmkit.errors import Conflict, Forbidden
from vmkit.ids import new_id, slugify
from vmkit.models import Environment, Repo, Scope
from vmkit.ports import Forge
from vmkit.services import audit, installations
from vmkit.store import Claims, Page

if TYPE_CHECKING:  # annotations only: the step functions load no API schema
    from vmkit.schemas import RepoCreate


def connect_repo(deps: Deps, principal: Principal, data: RepoCreate) -> Repo:
    principal.require(Scope.admin)
    owner, name = data.full_name.split("/", 1)
    installation_id = data.installation_id or deps.github.installation_for_repo(owner, name)
    if installation_id is None:
        raise Forbidden(
            f"the VMKit GitHub App is not installed on {data.full_name}; install it on the "
            "repo's account (GET /api/installations/install-url), then connect the repo",
            code="app_not_installed",
        )
    installations.held_installation(deps, principal.workspace_id, installation_id)
    found = deps.github.installation_repository(installation_id, owner, name)
    if found is None:
        raise Forbidden(
            f"{data.full_name} is not among the repositories of GitHub App installation "
            f"{installation_id}; add it to the installation on GitHub, then connect it",
            code="repo_not_in_installation",
        )
    owner, name = found.full_name.split("/", 1)  # GitHub's spelling
    repo = Repo(
        id=new_id("repo"),
        workspace_id=principal.workspace_id,
        owner=owner,
        name=name,
        slug=slugify(name, max_len=30),
        github_repo_id=found.id,
        installation_id=installation_id,
        default_branch=data.default_branch,
    )
    if not deps.store.claim(Claims.repo(principal.workspace_id, data.full_name), repo.id):
        raise Conflict(
            f"{data.full_name} is already connected to this workspace", code="already_exists"
        )
    deps.store.create(repo)
    audit.record(deps, principal, "repo.connect", "repo", repo.id, full_name=data.full_name)
    return repo


def list_repos(
    deps: Deps, principal: Principal, *, limit: int = 50, cursor: str | None = None
) -> Page[Repo]:

    principal.require(Scope.read)
    return deps.store.list(Repo, principal.workspace_id, limit=limit, cursor=cursor)


def get_repo(deps: Deps, principal: Principal, repo_id: str) -> Repo:
    principal.require(Scope.read)
    return deps.store.get(Repo, principal.workspace_id, repo_id)


def disconnect_repo(deps: Deps, principal: Principal, repo_id: str) -> None:
    principal.require(Scope.admin)
    repo = deps.store.get(Repo, principal.workspace_id, repo_id)
    environments = deps.store.children(Environment, repo.id)
    if environments:
        raise Conflict(
            f"repo {repo.full_name} still has environments "
            f"({', '.join(e.name for e in environments)}); destroy them first",
            code="in_use",
        )
    deps.store.delete(repo)
    deps.store.release(Claims.repo(repo.workspace_id, repo.full_name), repo.id)
    audit.record(deps, principal, "repo.disconnect", "repo", repo.id, full_name=repo.full_name)


def forge(deps: Deps, repo: Repo) -> Forge:
    """GitHub for a repo, refused with the reason if its workspace may no longer use it
    (the App uninstalled or suspended, the repo taken out of the installation)."""
    installations.require_access(deps, repo)
    return deps.forge(repo)
