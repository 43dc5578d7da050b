from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status
from fastapi.responses import RedirectResponse

from vmkit.rest.deps import DepsDep, PrincipalDep
from vmkit.schemas import (
    AvailableInstallation,
    InstallationClaim,
    InstallationPublic,
    InstallUrl,
    ListOf,
    RepositoryOption,
)
from vmkit.services import installations

router = APIRouter(tags=["installations"])

InstallationIdPath = Annotated[
    int, Path(ge=1, le=2**53 - 1, description="GitHub's installation id.")
]
DASHBOARD_GITHUB_PAGE = "/settings/github"


def _public(record) -> InstallationPublic:
    return InstallationPublic.model_validate({**record.model_dump(), "id": int(record.id)})


@router.get("/api/installations", name="list_installations")
def list_installations(deps: DepsDep, principal: PrincipalDep) -> ListOf[InstallationPublic]:
    """The GitHub App installations this workspace holds; repos connect through them."""
    return ListOf[InstallationPublic](
        items=[_public(i) for i in installations.list_installations(deps, principal)]
    )


@router.get("/api/installations/install-url", name="installation_install_url")
def install_url(deps: DepsDep, principal: PrincipalDep) -> InstallUrl:
    """GitHub's page to install the App; GitHub then sends the browser to the setup URL."""
    return InstallUrl(url=installations.install_url(deps, principal))


@router.get("/api/installations/available", name="list_available_installations")
def available(deps: DepsDep, principal: PrincipalDep) -> ListOf[AvailableInstallation]:
    """Installations the signed-in GitHub user can access (needs a GitHub sign-in)."""
    found = installations.available(deps, principal)
    return ListOf[AvailableInstallation](
        items=[
            AvailableInstallation(
                id=info.id,
                account_login=info.account_login,
                account_type=info.account_type,
                repository_selection=info.repository_selection,
                suspended=info.suspended,
                claimed_by_you=holder == principal.workspace_id,
                claimed_elsewhere=holder is not None and holder != principal.workspace_id,
            )
            for info, holder in found
        ]
    )


@router.post(
    "/api/installations/claim", name="claim_installation", status_code=status.HTTP_201_CREATED
)
def claim(deps: DepsDep, principal: PrincipalDep, body: InstallationClaim) -> InstallationPublic:
    """Connect an installation your GitHub account can access to this workspace."""
    return _public(installations.claim(deps, principal, body.installation_id))


@router.get("/api/installations/{installation_id:int}/repositories", name="list_installation_repos")
def repositories(
    deps: DepsDep, principal: PrincipalDep, installation_id: InstallationIdPath
) -> ListOf[RepositoryOption]:
    """The repositories an installation covers: what POST /api/repos may connect."""
    found = installations.repositories(deps, principal, installation_id)
    return ListOf[RepositoryOption](
        items=[RepositoryOption(id=r.id, full_name=r.full_name) for r in found]
    )


@router.delete(
    "/api/installations/{installation_id:int}",
    name="release_installation",
    status_code=status.HTTP_204_NO_CONTENT,
)
def release(
    deps: DepsDep, principal: PrincipalDep, installation_id: InstallationIdPath
) -> Response:
    """Disconnect an installation; its repos stop deploying until it is connected again."""
    installations.release(deps, principal, installation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/api/github/setup",
    name="github_setup",
    status_code=status.HTTP_302_FOUND,
    response_class=RedirectResponse,
)
def setup(
    deps: DepsDep,
    principal: PrincipalDep,
    installation_id: Annotated[int, Query(ge=1, le=2**53 - 1)],
    state: Annotated[str, Query(min_length=1, max_length=512)],
) -> RedirectResponse:
    """Where GitHub sends the browser after an install (the App's Setup URL): claims the
    installation for the workspace the signed `state` names, then shows the dashboard."""
    installations.claim(deps, principal, installation_id, state=state)
    return RedirectResponse(
        f"{DASHBOARD_GITHUB_PAGE}?installation_id={installation_id}",
        status_code=status.HTTP_302_FOUND,
    )
