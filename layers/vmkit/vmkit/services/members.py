"""Members: invite by GitHub login, change a role, remove. Roles map to scopes
(`ROLE_SCOPE`), so a member's role is enforced on every call their session makes.

Managing members needs the `admin` scope without an environment restriction (a
restricted key would otherwise hand out workspace-wide roles). Anything touching
the `owner` role, granting it, changing an owner's role or removing an owner, needs
owner rights: an owner's session, or an API key whose chain of creators starts at an
owner or the operator. An admin therefore cannot promote themselves past the people
who made them admin. A workspace always keeps at least one owner: the last one can be
neither removed nor demoted.

An invitation names a GitHub login, since the person may never have signed in; it
becomes a membership at their next sign-in (`accept_invitations`). GitHub logins can
be renamed: an invitation is for the login as it is now, and unused ones can be
removed like any member.
"""

from __future__ import annotations

import re

from vmkit.auth import Principal
from vmkit.deps import Deps
from vmkit.errors import Conflict, Forbidden, InvalidInput, NotFound
from vmkit.models import ApiKey, Interface, Member, Role, Scope, User
from vmkit.services import audit
from vmkit.store import Page

INVITE_PREFIX = "invite_"
# GitHub's rule: alphanumerics and single hyphens, not at either end, at most 39.
LOGIN_PATTERN = r"^[A-Za-z0-9](?:-?[A-Za-z0-9]){0,38}$"
_LOGIN = re.compile(LOGIN_PATTERN)


def invitation_id(login: str) -> str:
    return f"{INVITE_PREFIX}{login.lower()}"


def _require_manager(principal: Principal) -> None:
    principal.require(Scope.admin)
    if principal.environment_ids:
        raise Forbidden(
            "an API key restricted to some environments cannot manage members; "
            "use an unrestricted admin key or sign in",
            code="environment_restricted",
        )


def _has_owner_rights(deps: Deps, principal: Principal) -> bool:
    actor = principal.actor
    for _ in range(20):  # keys made by keys: follow the chain to a person or the operator
        if actor == "operator":
            return True
        if actor.startswith("key:"):
            key = deps.store.find(ApiKey, principal.workspace_id, actor.removeprefix("key:"))
            if key is None or key.revoked_at is not None:
                return False
            actor = key.created_by
            continue
        member = deps.store.find(Member, principal.workspace_id, actor)
        return member is not None and not member.pending and member.role is Role.owner
    return False


def _require_owner_rights(deps: Deps, principal: Principal, what: str) -> None:
    if not _has_owner_rights(deps, principal):
        raise Forbidden(
            f"only an owner can {what}; ask an owner of this workspace", code="owner_required"
        )


def _owners(deps: Deps, workspace_id: str) -> list[Member]:
    return [
        m for m in deps.store.all(Member, workspace_id) if m.role is Role.owner and not m.pending
    ]


def _require_another_owner(deps: Deps, member: Member, verb: str) -> None:
    if member.role is Role.owner and not member.pending:
        others = [m for m in _owners(deps, member.workspace_id) if m.id != member.id]
        if not others:
            raise Conflict(
                f"{member.login} is the workspace's last owner and cannot be {verb}; "
                "make another member owner first",
                code="last_owner",
            )


def _check_login(login: str) -> str:
    if len(login) > 39 or not _LOGIN.match(login):
        raise InvalidInput(
            f"'{login}' is not a GitHub login (letters, digits and single hyphens, at most 39)",
            code="invalid_login",
        )
    return login


def list_members(
    deps: Deps, principal: Principal, *, limit: int = 50, cursor: str | None = None
) -> Page[Member]:
    principal.require(Scope.read)
    return deps.store.list(Member, principal.workspace_id, limit=limit, cursor=cursor)


def find_member(deps: Deps, principal: Principal, login: str) -> Member:
    """A member or invitation by GitHub login (case-insensitive, as on GitHub)."""
    principal.require(Scope.read)
    _check_login(login)
    for member in deps.store.all(Member, principal.workspace_id):
        if member.login.lower() == login.lower():
            return member
    raise NotFound(
        f"{login} is not a member of this workspace nor invited to it; invite them first",
        code="member_not_found",
    )


def invite(deps: Deps, principal: Principal, login: str, role: Role) -> Member:
    _require_manager(principal)
    _check_login(login)
    if role is Role.owner:
        _require_owner_rights(deps, principal, "invite an owner")
    for member in deps.store.all(Member, principal.workspace_id):
        if member.login.lower() == login.lower():
            state = "invited" if member.pending else "a member"
            raise Conflict(
                f"{member.login} is already {state} ({member.role.value}); change their role "
                "instead",
                code="already_member",
            )
    member = Member(
        id=invitation_id(login),
        workspace_id=principal.workspace_id,
        login=login,
        role=role,
        pending=True,
        invited_by=principal.actor,
    )
    deps.store.create(member)
    audit.record(
        deps, principal, "member.invite", "member", member.id, login=login, role=role.value
    )
    return member


def change_role(deps: Deps, principal: Principal, login: str, role: Role) -> Member:
    _require_manager(principal)
    member = find_member(deps, principal, login)
    if member.role is role:
        return member
    if role is Role.owner or member.role is Role.owner:
        _require_owner_rights(deps, principal, "grant or take away the owner role")
    _require_another_owner(deps, member, "demoted")
    previous = member.role
    member.role = role
    deps.store.save(member)
    audit.record(
        deps,
        principal,
        "member.role",
        "member",
        member.id,
        login=member.login,
        role=role.value,
        previous=previous.value,
    )
    return member


def remove(deps: Deps, principal: Principal, login: str) -> Member:
    """Remove a member (their sessions stop working in this workspace at once) or an
    invitation."""
    _require_manager(principal)
    member = find_member(deps, principal, login)
    if member.role is Role.owner:
        _require_owner_rights(deps, principal, "remove an owner")
    _require_another_owner(deps, member, "removed")
    deps.store.delete(member)
    audit.record(deps, principal, "member.remove", "member", member.id, login=member.login)
    return member


def accept_invitations(deps: Deps, user: User) -> list[Member]:
    """Turn the invitations for this user's login into memberships, at sign-in."""
    accepted = []
    for invitation in deps.store.memberships_of(invitation_id(user.login)):
        if deps.store.find(Member, invitation.workspace_id, user.id) is None:
            member = Member(
                id=user.id,
                workspace_id=invitation.workspace_id,
                login=user.login,
                role=invitation.role,
                invited_by=invitation.invited_by,
            )
            deps.store.create(member)
            accepted.append(member)
            joined = Principal(invitation.workspace_id, user.id, Scope.read, Interface.rest)
            audit.record(
                deps,
                joined,
                "member.join",
                "member",
                user.id,
                login=user.login,
                role=member.role.value,
            )
        deps.store.delete(invitation)
    return accepted
