from typing import Annotated

from fastapi import APIRouter, Path, status

from vmkit.rest.deps import Cursor, DepsDep, Limit, PrincipalDep
from vmkit.schemas import ListOf, MemberInvite, MemberPublic, MemberUpdate
from vmkit.services import members

router = APIRouter(prefix="/api/members", tags=["members"])

LoginPath = Annotated[
    str, Path(pattern=members.LOGIN_PATTERN, max_length=39, description="GitHub login.")
]


@router.get("", name="list_members")
def list_members(
    deps: DepsDep, principal: PrincipalDep, limit: Limit = 50, cursor: Cursor = None
) -> ListOf[MemberPublic]:
    """The workspace's members and pending invitations, with their roles."""
    page = members.list_members(deps, principal, limit=limit, cursor=cursor)
    return ListOf[MemberPublic].of(page.map(MemberPublic.model_validate))


@router.post("", name="invite_member", status_code=status.HTTP_201_CREATED)
def invite_member(deps: DepsDep, principal: PrincipalDep, body: MemberInvite) -> MemberPublic:
    """Invite a GitHub user; they join with this role the next time they sign in."""
    return MemberPublic.model_validate(members.invite(deps, principal, body.login, body.role))


@router.patch("/{login}", name="change_member_role")
def change_member_role(
    deps: DepsDep, principal: PrincipalDep, login: LoginPath, body: MemberUpdate
) -> MemberPublic:
    """Change a member's role; it applies to their very next call."""
    return MemberPublic.model_validate(members.change_role(deps, principal, login, body.role))


@router.delete("/{login}", name="remove_member")
def remove_member(deps: DepsDep, principal: PrincipalDep, login: LoginPath) -> MemberPublic:
    """Remove a member or an invitation. The workspace's last owner cannot be removed."""
    return MemberPublic.model_validate(members.remove(deps, principal, login))
