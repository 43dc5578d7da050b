"""GitHub App installations, claimed by workspaces: who may act on which repos.

One VMKit GitHub App serves every workspace, and a verified webhook or an App token
proves nothing about *which* workspace is entitled to a repo. So an installation
belongs to the one workspace that claimed it, and a repo is usable only through an
installation its workspace holds, only while that installation covers it.

Claiming goes through GitHub's own proof of access:
- the App's setup URL, which GitHub redirects to after an install, carrying the
  `state` VMKit signed when it sent the user there (naming the workspace, expiring
  in ten minutes); and, in either flow,
- the signed-in user's GitHub token: the installation must be among those GitHub
  lists for that user (`GET /user/installations`). A setup redirect's
  `installation_id` alone can be forged; this cannot.
Operators (the CLI, the local stack) may claim without that proof: they run VMKit.

A second claim by another workspace is refused; the holder can release it. GitHub's
installation events (deleted, suspended, repositories removed) update what the
workspace may use, and a repo that lost its access stops deploying with the reason.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from vmkit.auth import Principal
from vmkit.deps import Deps
from vmkit.errors import Conflict, Forbidden, NotFound, Unauthenticated
from vmkit.models import Installation, Interface, Repo, RepoAccess, Scope, Session
from vmkit.ports import InstallationInfo, RepositoryInfo
from vmkit.secrets import get_secret
from vmkit.services import audit
from vmkit.services.workspaces import GITHUB_TOKEN_KIND
from vmkit.store import Claims

if TYPE_CHECKING:  # annotations only: the webhook function parses the payloads
    from vmkit import github_payloads

STATE_LIFETIME_S = 600


# --- the install link and its signed state ------------------------------------------------


def _state_key(deps: Deps) -> bytes:
    """A signing key derived from the webhook secret (domain-separated, so the two never
    stand in for each other), which saves a secret of its own."""
    secret = get_secret(deps.settings.github_webhook_secret_parameter, "the GitHub webhook secret")
    return hmac.new(secret.encode(), b"vmkit/install-state/v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_state(deps: Deps, workspace_id: str, actor: str) -> str:
    claims = {
        "w": workspace_id,
        "a": actor,
        "e": int(time.time()) + STATE_LIFETIME_S,
        "n": secrets.token_urlsafe(8),
    }
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    mac = hmac.new(_state_key(deps), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


@dataclass(frozen=True)
class InstallState:
    workspace_id: str
    actor: str


def verify_state(deps: Deps, state: str) -> InstallState:
    refused = Unauthenticated(
        "the install link has expired or was not made by VMKit; start from 'Connect GitHub' again",
        code="bad_install_state",
    )
    body, _, mac = state.partition(".")
    try:
        expected = hmac.new(_state_key(deps), body.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(mac)):
            raise refused
        claims = json.loads(_unb64(body))
    except (ValueError, TypeError) as exc:
        raise refused from exc
    if not isinstance(claims, dict) or int(claims.get("e", 0)) < time.time():
        raise refused
    return InstallState(workspace_id=str(claims["w"]), actor=str(claims["a"]))


def install_url(deps: Deps, principal: Principal) -> str:
    """GitHub's page to install the App; GitHub sends the user back to the setup URL."""
    _may_manage(principal)
    s = deps.settings.require("github_app_slug")
    state = sign_state(deps, principal.workspace_id, principal.actor)
    base = s.github_web_url.rstrip("/")
    return f"{base}/apps/{s.github_app_slug}/installations/new?{urlencode({'state': state})}"


# --- claiming -----------------------------------------------------------------------------


def _may_manage(principal: Principal) -> None:
    principal.require(Scope.admin)
    if principal.environment_ids:
        raise Forbidden(
            "this API key is restricted to some environments and cannot manage the "
            "workspace's GitHub connection",
            code="environment_not_allowed",
        )


def github_user_token(deps: Deps, session: Session) -> str | None:
    if session.github_token is None:
        return None
    return deps.sealer.open(
        session.github_token,
        workspace_id=session.workspace_id,
        record_id=session.id,
        kind=GITHUB_TOKEN_KIND,
    )


def _user_token(deps: Deps, principal: Principal) -> str:
    session = (
        deps.store.find(Session, principal.workspace_id, principal.session_id)
        if principal.session_id
        else None
    )
    token = github_user_token(deps, session) if session else None
    if token is None:
        raise Forbidden(
            "claiming a GitHub App installation needs a GitHub sign-in (it proves you can "
            "access the installation); sign in with GitHub and claim it from there",
            code="github_sign_in_required",
        )
    return token


def available(deps: Deps, principal: Principal) -> list[tuple[InstallationInfo, str | None]]:
    """The installations the signed-in user can access, each with the workspace holding
    it (None if unclaimed)."""
    _may_manage(principal)
    found = deps.github.user_installations(_user_token(deps, principal))
    return [(info, deps.store.claim_owner(Claims.installation(info.id))) for info in found]


def claim(
    deps: Deps,
    principal: Principal,
    installation_id: int,
    *,
    state: str | None = None,
) -> Installation:
    """Claim an installation for the caller's workspace, proven by the user's GitHub
    token (and, from the setup redirect, by the state VMKit signed)."""
    _may_manage(principal)
    via = "github_user"
    if state is not None:
        signed = verify_state(deps, state)
        if signed.workspace_id != principal.workspace_id:
            raise Forbidden(
                "this install link was made for another workspace; sign in to that "
                "workspace, or start from 'Connect GitHub' in this one",
                code="install_state_mismatch",
            )
        via = "setup_url"
    visible = {
        info.id: info for info in deps.github.user_installations(_user_token(deps, principal))
    }
    if installation_id not in visible:
        raise Forbidden(
            f"GitHub does not list installation {installation_id} among those your GitHub "
            "account can access; install the VMKit GitHub App on your account or "
            "organization, or ask its owner to",
            code="installation_not_yours",
        )
    return _take(deps, principal, visible[installation_id], via)


def claim_as_operator(deps: Deps, workspace_id: str, installation_id: int) -> Installation:
    """For operators (the CLI, the local stack): they run VMKit and need no GitHub proof."""
    info = deps.github.installation(installation_id)
    if info is None:
        raise NotFound(f"the VMKit GitHub App has no installation {installation_id}")
    operator = Principal(workspace_id, "operator", Scope.admin, Interface.cli)
    return _take(deps, operator, info, "operator")


def _take(deps: Deps, principal: Principal, info: InstallationInfo, via: str) -> Installation:
    holder = deps.store.claim_owner(Claims.installation(info.id))
    if holder == principal.workspace_id:
        existing = deps.store.find(Installation, principal.workspace_id, str(info.id))
        if existing is not None:
            return existing
    if not deps.store.claim(Claims.installation(info.id), principal.workspace_id):
        raise Conflict(
            f"the GitHub App installation on {info.account_login} is connected to another "
            "VMKit workspace; its admins must disconnect it there first",
            code="installation_claimed",
        )
    installation = Installation(
        id=str(info.id),
        workspace_id=principal.workspace_id,
        account_login=info.account_login,
        account_type=info.account_type,
        repository_selection=info.repository_selection,
        suspended=info.suspended,
        claimed_by=principal.actor,
        claimed_via=via,  # type: ignore[arg-type]
    )
    deps.store.create(installation)
    _restore(deps, installation)
    audit.record(
        deps,
        principal,
        "installation.claim",
        "installation",
        installation.id,
        account=info.account_login,
        via=via,
    )
    return installation


def release(deps: Deps, principal: Principal, installation_id: int) -> None:
    """Disconnect an installation from the workspace; its repos stop deploying."""
    _may_manage(principal)
    installation = deps.store.get(Installation, principal.workspace_id, str(installation_id))
    _forget(
        deps, installation, f"the GitHub App installation was disconnected by {principal.actor}"
    )
    audit.record(deps, principal, "installation.release", "installation", installation.id)


def _forget(deps: Deps, installation: Installation, reason: str) -> None:
    _set_access(deps, installation, RepoAccess.removed, reason)
    deps.store.delete(installation)
    deps.store.release(Claims.installation(installation.id), installation.workspace_id)


# --- reading ------------------------------------------------------------------------------


def list_installations(deps: Deps, principal: Principal) -> list[Installation]:
    principal.require(Scope.read)
    return deps.store.all(Installation, principal.workspace_id)


def repositories(deps: Deps, principal: Principal, installation_id: int) -> list[RepositoryInfo]:
    """The repos a claimed installation covers: what the workspace may connect."""
    principal.require(Scope.read)
    deps.store.get(Installation, principal.workspace_id, str(installation_id))
    return deps.github.installation_repositories(installation_id)


def held_installation(deps: Deps, workspace_id: str, installation_id: int) -> Installation:
    """The workspace's claim on an installation, or the 403 that says whose it is."""
    installation = deps.store.find(Installation, workspace_id, str(installation_id))
    if installation is not None:
        return installation
    holder = deps.store.claim_owner(Claims.installation(installation_id))
    raise Forbidden(
        f"GitHub App installation {installation_id} is "
        + ("connected to another workspace" if holder else "not connected to this workspace")
        + "; connect your own installation first (GET /api/installations/install-url)",
        code="installation_not_yours",
    )


def require_access(deps: Deps, repo: Repo) -> None:
    """Refuse to act on a repo its workspace may no longer use, saying why."""
    if repo.access is RepoAccess.active and repo.installation_id is not None:
        held_installation(deps, repo.workspace_id, repo.installation_id)
        return
    raise Forbidden(
        f"VMKit may no longer act on {repo.full_name}: "
        f"{repo.access_reason or 'its GitHub App installation is not connected'}",
        code=f"repo_{repo.access.value}",
    )


# --- what GitHub reports ------------------------------------------------------------------


def on_installation(deps: Deps, event: github_payloads.InstallationEvent) -> dict[str, str]:
    installation = _held_by_anyone(deps, event.installation.id)
    if installation is None:
        return {"status": "ignored", "reason": "installation not connected"}
    action = event.action
    if action == "deleted":
        _forget(
            deps,
            installation,
            f"the VMKit GitHub App was uninstalled from {installation.account_login}",
        )
    elif action in ("suspend", "unsuspend"):
        installation.suspended = action == "suspend"
        deps.store.save(installation)
        reason = f"the GitHub App installation on {installation.account_login} is suspended"
        if installation.suspended:
            _set_access(deps, installation, RepoAccess.suspended, reason)
        else:
            _set_access(deps, installation, RepoAccess.active, None, only=RepoAccess.suspended)
    else:
        return {"status": "ignored", "action": action}
    return {"status": "applied", "action": action, "installation": installation.id}


def on_repositories(
    deps: Deps, event: github_payloads.InstallationRepositoriesEvent
) -> dict[str, str]:
    installation = _held_by_anyone(deps, event.installation.id)
    if installation is None:
        return {"status": "ignored", "reason": "installation not connected"}
    installation.repository_selection = event.repository_selection
    deps.store.save(installation)
    removed = {r.id for r in event.repositories_removed}
    added = {r.id for r in event.repositories_added}
    for repo in _repos_of(deps, installation):
        if repo.github_repo_id in removed:
            _mark(
                deps,
                repo,
                RepoAccess.removed,
                f"{repo.full_name} was removed from the GitHub App installation on {installation.account_login}",
            )
        elif repo.github_repo_id in added and repo.access is RepoAccess.removed:
            _mark(deps, repo, RepoAccess.active, None)
    return {"status": "applied", "action": event.action, "installation": installation.id}


def _restore(deps: Deps, installation: Installation) -> None:
    """On a (re)claim: the workspace's repos this installation covers become usable again."""
    for repo in _repos_of(deps, installation):
        if repo.access is RepoAccess.active:
            continue
        if deps.github.installation_repository(int(installation.id), repo.owner, repo.name):
            _mark(deps, repo, RepoAccess.active, None)


def _held_by_anyone(deps: Deps, installation_id: int) -> Installation | None:
    holder = deps.store.claim_owner(Claims.installation(installation_id))
    return deps.store.find(Installation, holder, str(installation_id)) if holder else None


def _repos_of(deps: Deps, installation: Installation) -> list[Repo]:
    return [
        r
        for r in deps.store.children(Repo, installation.id)
        if r.workspace_id == installation.workspace_id
    ]


def _set_access(
    deps: Deps,
    installation: Installation,
    access: RepoAccess,
    reason: str | None,
    *,
    only: RepoAccess | None = None,
) -> None:
    for repo in _repos_of(deps, installation):
        if only is None or repo.access is only:
            _mark(deps, repo, access, reason)


def _mark(deps: Deps, repo: Repo, access: RepoAccess, reason: str | None) -> None:
    repo.access, repo.access_reason = access, reason
    deps.store.save(repo)
