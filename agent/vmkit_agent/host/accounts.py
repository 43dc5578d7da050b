"""The local account files (/etc/passwd, /etc/group, /etc/shadow) read and, in the
sandbox, edited the way useradd/usermod would, so a test can check the result."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

FIRST_USER_ID = 1000
LAST_SYSTEM_GROUP_ID = 999


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int
    home: str


@dataclass(frozen=True)
class Group:
    name: str
    gid: int
    members: tuple[str, ...]


def _rows(path: Path) -> list[list[str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def _write_rows(path: Path, rows: list[list[str]], mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.vmkit-tmp")
    tmp.write_text("".join(":".join(row) + "\n" for row in rows), encoding="utf-8")
    tmp.chmod(mode)
    tmp.replace(path)


def read_users(etc: Path) -> dict[str, User]:
    return {
        row[0]: User(row[0], int(row[2]), int(row[3]), row[5])
        for row in _rows(etc / "passwd")
        if len(row) >= 7
    }


def read_groups(etc: Path) -> dict[str, Group]:
    return {
        row[0]: Group(row[0], int(row[2]), tuple(m for m in row[3].split(",") if m))
        for row in _rows(etc / "group")
        if len(row) >= 4
    }


def in_group(user: User, group: Group) -> bool:
    return user.gid == group.gid or user.name in group.members


def add_group(etc: Path, name: str) -> Group:
    """groupadd --system: the highest free id below 1000."""
    rows = _rows(etc / "group")
    taken = {int(row[2]) for row in rows if len(row) >= 3}
    gid = next(g for g in range(LAST_SYSTEM_GROUP_ID, 0, -1) if g not in taken)
    _write_rows(etc / "group", [*rows, [name, "x", str(gid), ""]], 0o644)
    return Group(name, gid, ())


def add_user(etc: Path, name: str, *, groups: list[str]) -> User:
    """useradd --create-home --groups …: a user with its own group, a locked password
    (`!` in shadow), and membership of existing supplementary `groups`."""
    users, known_groups = read_users(etc), read_groups(etc)
    taken = {u.uid for u in users.values()} | {g.gid for g in known_groups.values()}
    uid = next(i for i in range(FIRST_USER_ID, 60000) if i not in taken)
    home = f"/home/{name}"
    passwd_rows = _rows(etc / "passwd")
    _write_rows(
        etc / "passwd",
        [*passwd_rows, [name, "x", str(uid), str(uid), "", home, "/bin/bash"]],
        0o644,
    )
    group_rows = _rows(etc / "group")
    group_rows.append([name, "x", str(uid), ""])
    _write_rows(etc / "group", group_rows, 0o644)
    days = str(int(time.time() // 86400))
    shadow_rows = _rows(etc / "shadow")
    _write_rows(
        etc / "shadow", [*shadow_rows, [name, "!", days, "0", "99999", "7", "", "", ""]], 0o640
    )
    add_to_groups(etc, name, groups)
    return User(name, uid, uid, home)


def add_to_groups(etc: Path, name: str, groups: list[str]) -> None:
    """usermod --append --groups …"""
    rows = _rows(etc / "group")
    for row in rows:
        if len(row) >= 4 and row[0] in groups:
            members = [m for m in row[3].split(",") if m]
            if name not in members:
                row[3] = ",".join([*members, name])
    _write_rows(etc / "group", rows, 0o644)
