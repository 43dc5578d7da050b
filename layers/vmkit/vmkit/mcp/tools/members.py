"""The workspace's people: who may do what (roles owner, admin, deployer, viewer)."""

from __future__ import annotations

from vmkit.mcp.tools.common import CHANGES, DESTROYS, READS, REPEATABLE_CHANGES, ToolSpec, caller
from vmkit.models import Role
from vmkit.schemas import Cursor, GitHubLogin, Limit, ListOf, MemberPublic
from vmkit.services import members


def list_members(limit: Limit = 50, cursor: Cursor = None) -> ListOf[MemberPublic]:
    """List the workspace's members and pending invitations, with their roles.

    A pending invitation becomes a membership when that GitHub user next signs in to
    VMKit. Roles: owner (everything, including managing owners), admin (everything
    but the owner role), deployer (deploy and operate environments), viewer (read
    only).
    """
    c = caller()
    page = members.list_members(c.deps, c.principal, limit=limit, cursor=cursor)
    return ListOf[MemberPublic].of(page.map(MemberPublic.model_validate))


def invite_member(login: GitHubLogin, role: Role) -> MemberPublic:
    """Invite a GitHub user to the workspace with a role; they join at their next sign-in.

    Needs an unrestricted admin key; inviting an owner needs an owner's key. Ask the
    user which role to give before calling: it decides what that person can change.
    """
    c = caller()
    return MemberPublic.model_validate(members.invite(c.deps, c.principal, login, role))


def set_member_role(login: GitHubLogin, role: Role) -> MemberPublic:
    """Change a member's (or an invitation's) role; it applies to their next call.

    Roles: owner, admin, deployer (deploy and operate), viewer (read only). Needs an
    unrestricted admin key. Granting or taking away the owner role needs an owner's
    key, and the workspace's last owner cannot be demoted: make someone else owner
    first. Returns the member with the new role.
    """
    c = caller()
    return MemberPublic.model_validate(members.change_role(c.deps, c.principal, login, role))


def remove_member(login: GitHubLogin) -> MemberPublic:
    """Remove a member or a pending invitation; a removed member's sessions stop at once.

    Needs an unrestricted admin key; removing an owner needs an owner's key. The
    workspace's last owner cannot be removed: make someone else owner first. This
    cannot be undone except by inviting them again, so confirm with the user first.
    """
    c = caller()
    return MemberPublic.model_validate(members.remove(c.deps, c.principal, login))


TOOLS = [
    ToolSpec(list_members, READS),
    ToolSpec(invite_member, CHANGES),
    ToolSpec(set_member_role, REPEATABLE_CHANGES),
    ToolSpec(remove_member, DESTROYS),
]
