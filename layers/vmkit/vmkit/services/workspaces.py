"""Workspaces and people: operator bootstrap, and first login through GitHub."""

from __future__ import annotations

from dataclasses import dataclass, field

from vmkit import auth
from vmkit.auth import Principal
from vmkit.deps import Deps
from vmkit.errors import Forbidden, Unauthenticated
from vmkit.ids import new_id, slugify
from vmkit.models import (
    ROLE_SCOPE,
    ApiKey,
    Interface,
    Member,
    Role,
    Scope,
    Session,
    User,
    Workspace,
    utcnow,
)
from vmkit.services import audit, members

SESSION_LIFETIME_S = 7 * 24 * 3600
GITHUB_TOKEN_KIND = "github_user_token"  # noqa: S105 (an encryption-context label)


def bootstrap_workspace(deps: Deps, name: str) -> tuple[Workspace, str]:
    """A workspace and its first admin key, for operators before any login exists."""
    workspace_id = new_id("workspace")
    workspace = Workspace(id=workspace_id, workspace_id=workspace_id, name=name, slug=slugify(name))
    deps.store.create(workspace)
    issued = auth.issue(auth.API_KEY_PREFIX)
    key = ApiKey(
        id=issued.key_id,
        workspace_id=workspace.id,
        name="bootstrap admin",
        scopes=[Scope.admin],
        verifier=issued.verifier,
        created_by="operator",
    )
    deps.store.create(key)
    operator = Principal(workspace.id, "operator", Scope.admin, Interface.cli)
    audit.record(deps, operator, "workspace.bootstrap", "workspace", workspace.id, name=name)
    return workspace, issued.plaintext


@dataclass(frozen=True)
class GitHubIdentity:
    id: int
    login: str
    name: str | None = None
    email: str | None = None
    token: str | None = field(
        default=None, repr=False
    )  # the user's GitHub token, sealed on the session


def login(deps: Deps, identity: GitHubIdentity) -> tuple[User, Workspace, str]:
    """Sign a GitHub user in; on the first login make the user and a personal workspace.

    Returns the session credential (shown once, set as a cookie).
    """
    user = deps.store.find_user_by_github_id(identity.id)
    if user is None:
        user = deps.store.create_user(
            User(
                id=new_id("user"),
                github_id=identity.id,
                login=identity.login,
                name=identity.name,
                email=identity.email,
            )
        )
    # A person invited somewhere signs in there; otherwise into their first workspace.
    joined = members.accept_invitations(deps, user)
    memberships = joined or deps.store.memberships_of(user.id)
    if memberships:
        workspace = deps.store.get(
            Workspace, memberships[0].workspace_id, memberships[0].workspace_id
        )
    else:
        workspace_id = new_id("workspace")
        workspace = Workspace(
            id=workspace_id,
            workspace_id=workspace_id,
            name=f"{identity.login}'s workspace",
            slug=slugify(identity.login),
            personal_for=user.id,
        )
        deps.store.create(workspace)
        deps.store.create(
            Member(id=user.id, workspace_id=workspace.id, login=user.login, role=Role.owner)
        )
        founder = Principal(workspace.id, user.id, Scope.admin, Interface.rest)
        audit.record(deps, founder, "workspace.create", "workspace", workspace.id, login=user.login)
    return user, workspace, _open_session(deps, user.id, workspace.id, identity.token)


def _open_session(deps: Deps, user_id: str, workspace_id: str, github_token: str | None) -> str:
    issued = auth.issue(auth.SESSION_PREFIX)
    session = Session(
        id=issued.key_id,
        workspace_id=workspace_id,
        user_id=user_id,
        verifier=issued.verifier,
        expires_at=int(utcnow().timestamp()) + SESSION_LIFETIME_S,
    )
    if github_token:
        session.github_token = deps.sealer.seal(
            github_token, workspace_id=workspace_id, record_id=session.id, kind=GITHUB_TOKEN_KIND
        )
    deps.store.create(session)
    return issued.plaintext


def memberships(deps: Deps, principal: Principal) -> list[tuple[Member, Workspace]]:
    """The workspaces the signed-in person belongs to, to switch between."""
    if principal.session_id is None:
        return []
    found = []
    for member in deps.store.memberships_of(principal.actor):
        workspace = deps.store.find(Workspace, member.workspace_id, member.workspace_id)
        if workspace is not None:
            found.append((member, workspace))
    return found


def switch_workspace(deps: Deps, token: str, workspace_id: str) -> str:
    """A session in another workspace of the same person; the current one ends.

    Returns the new session credential. Only a membership the person holds counts, so
    a workspace id alone gets nobody in.
    """
    session, _ = auth.authenticate_session(deps.store, token)
    if deps.store.find(Member, workspace_id, session.user_id) is None:
        raise Forbidden(
            f"you are not a member of workspace {workspace_id}; ask one of its owners to "
            "invite your GitHub login",
            code="not_a_member",
        )
    github_token = None
    if session.github_token is not None:
        github_token = deps.sealer.open(
            session.github_token,
            workspace_id=session.workspace_id,
            record_id=session.id,
            kind=GITHUB_TOKEN_KIND,
        )
    new = _open_session(deps, session.user_id, workspace_id, github_token)
    deps.store.delete(session)
    return new


def session_principal(deps: Deps, token: str) -> Principal:
    session, workspace_id = auth.authenticate_session(deps.store, token)
    member = deps.store.find(Member, workspace_id, session.user_id)
    if member is None:  # removed from the workspace: the session ends with the membership
        raise Unauthenticated(
            "you are no longer a member of this workspace; sign in again", code="not_a_member"
        )
    return Principal(
        workspace_id,
        session.user_id,
        ROLE_SCOPE[member.role],
        Interface.rest,
        session_id=session.id,
    )


def logout(deps: Deps, token: str) -> None:
    """End a session; signing out of one that already ended is not an error."""
    try:
        session, _ = auth.authenticate_session(deps.store, token)
    except Unauthenticated:
        return
    deps.store.delete(session)
