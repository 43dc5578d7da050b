from fastapi import APIRouter, Response, status

from vmkit.ai.scan_result import ScanResult
from vmkit.rest.deps import Cursor, DepsDep, Limit, PrincipalDep, RepoIdPath
from vmkit.schemas import ListOf, OnboardRequest, RepoCreate, RepoPublic
from vmkit.services import onboarding, repos
from vmkit.services.onboarding import OnboardingResult

router = APIRouter(prefix="/api/repos", tags=["repos"])


@router.get("", name="list_repos")
def list_repos(
    deps: DepsDep, principal: PrincipalDep, limit: Limit = 50, cursor: Cursor = None
) -> ListOf[RepoPublic]:
    page = repos.list_repos(deps, principal, limit=limit, cursor=cursor)
    return ListOf[RepoPublic].of(page.map(RepoPublic.model_validate))


@router.post("", name="connect_repo", status_code=status.HTTP_201_CREATED)
def connect_repo(deps: DepsDep, principal: PrincipalDep, body: RepoCreate) -> RepoPublic:
    return RepoPublic.model_validate(repos.connect_repo(deps, principal, body))


@router.get("/{repo_id}", name="get_repo")
def get_repo(deps: DepsDep, principal: PrincipalDep, repo_id: RepoIdPath) -> RepoPublic:
    return RepoPublic.model_validate(repos.get_repo(deps, principal, repo_id))


@router.delete("/{repo_id}", name="disconnect_repo", status_code=status.HTTP_204_NO_CONTENT)
def disconnect_repo(deps: DepsDep, principal: PrincipalDep, repo_id: RepoIdPath) -> Response:
    repos.disconnect_repo(deps, principal, repo_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{repo_id}/scan", name="scan_repo")
def scan_repo(deps: DepsDep, principal: PrincipalDep, repo_id: RepoIdPath) -> ScanResult:
    """Read the repo through the GitHub App and report what VMKit found, with evidence."""
    return onboarding.scan_repo(deps, principal, repo_id)


@router.post("/{repo_id}/onboard", name="onboard_repo")
def onboard_repo(
    deps: DepsDep, principal: PrincipalDep, repo_id: RepoIdPath, body: OnboardRequest | None = None
) -> OnboardingResult:
    """Open (or update) the onboarding pull request with the workflow and Kamal config."""
    body = body or OnboardRequest()
    return onboarding.onboard_repo(
        deps, principal, repo_id, environment_id=body.environment_id, overwrite=body.overwrite
    )
