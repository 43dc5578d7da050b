"""Domain-level access to the table: records in and out, with the conditional writes.

Every record belongs to a workspace, and every method that reads one takes the
caller's workspace id, so there is no call that can fetch another workspace's row.
Updates are optimistic: `save` succeeds only if nobody changed the row since it was
read, which is how races (two deploys, two webhooks) are settled.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from vmkit.errors import Conflict, NotFound
from vmkit.models import Member, Record, User, utcnow
from vmkit.store.keys import (
    LOOKUP,
    PARENT,
    SWEEP,
    index_attributes,
    record_sk,
    user_pk,
    workspace_pk,
)
from vmkit.store.table import ConditionFailed, Table, decode_cursor, encode_cursor

R = TypeVar("R", bound=Record)

_KIND_LABEL = {
    "WORKSPACE": "workspace",
    "MEMBER": "member",
    "KEY": "API key",
    "SESSION": "session",
    "TARGET": "compute target",
    "REPO": "repo",
    "ENV": "environment",
    "INSTANCE": "instance",
    "DEPLOY": "deploy",
    "AUDIT": "audit event",
}


def label(cls: type[Record]) -> str:
    return _KIND_LABEL.get(cls.kind, cls.kind.lower())


@dataclass
class Page(Generic[R]):
    items: list[R]
    next_cursor: str | None


class Store:
    def __init__(self, table: Table):
        self.table = table

    # --- records of a workspace --------------------------------------------------

    def find(self, cls: type[R], workspace_id: str, record_id: str) -> R | None:
        item = self.table.get(workspace_pk(workspace_id), record_sk(cls.kind, record_id))
        return cls.model_validate(item) if item else None

    def get(self, cls: type[R], workspace_id: str, record_id: str) -> R:
        record = self.find(cls, workspace_id, record_id)
        if record is None:
            raise NotFound(f"{label(cls)} {record_id} not found")
        return record

    def create(self, record: R) -> R:
        try:
            self.table.put(self._item(record), condition="attribute_not_exists(pk)")
        except ConditionFailed as exc:
            raise Conflict(f"{label(type(record))} {record.id} already exists") from exc
        return record

    def save(self, record: R) -> R:
        """Write back a record read earlier; fails if anyone else wrote it in between."""
        read_version = record.version
        record.version = read_version + 1
        record.updated_at = utcnow()
        try:
            self.table.put(
                self._item(record),
                condition="#v = :v",
                names={"#v": "version"},
                values={":v": read_version},
            )
        except ConditionFailed as exc:
            record.version = read_version
            raise Conflict(
                f"{label(type(record))} {record.id} was changed by another request; "
                "read it again and retry",
                code="concurrent_update",
            ) from exc
        return record

    def set_fields(self, record: Record, **fields: Any) -> None:
        """Set bookkeeping attributes (last used, last seen) without a version bump.

        For facts that any writer may refresh at any time; never for state that a
        conditional `save` protects.
        """
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        values = {f":v{i}": value for i, value in enumerate(fields.values()) if value is not None}
        sets = [f"#f{i} = :v{i}" for i in range(len(fields)) if f":v{i}" in values]
        removes = [f"#f{i}" for i in range(len(fields)) if f":v{i}" not in values]  # None clears
        clauses = [f"SET {', '.join(sets)}"] if sets else []
        clauses += [f"REMOVE {', '.join(removes)}"] if removes else []
        update = " ".join(clauses)
        self.table.update(
            workspace_pk(record.workspace_id),
            record_sk(record.kind, record.id),
            update=update,
            condition="attribute_exists(pk)",
            names=names,
            values=values or None,
        )

    def delete(self, record: Record) -> None:
        self.table.delete(workspace_pk(record.workspace_id), record_sk(record.kind, record.id))

    def list(
        self,
        cls: type[R],
        workspace_id: str,
        *,
        limit: int = 50,
        cursor: str | None = None,
        newest_first: bool = False,
    ) -> Page[R]:
        pk = workspace_pk(workspace_id)
        items, last = self.table.query(
            pk,
            sk_prefix=f"{cls.kind}#",
            limit=limit,
            start_key=decode_cursor(cursor, pk) if cursor else None,
            newest_first=newest_first,
        )
        return Page([cls.model_validate(i) for i in items], encode_cursor(last))

    def all(self, cls: type[R], workspace_id: str) -> list[R]:
        """Every record of a kind in a workspace, following pages."""
        records: list[R] = []
        cursor = None
        while True:
            page = self.list(cls, workspace_id, limit=100, cursor=cursor)
            records.extend(page.items)
            if not page.next_cursor:
                return records
            cursor = page.next_cursor

    def claim(self, name: str, owner: str) -> bool:
        """Take a globally unique name (a hostname, a repo in a workspace) for `owner`.

        Returns False if someone else holds it; claiming again for the same owner is a
        no-op, so a retried request does not lock itself out.
        """
        try:
            self.table.put(
                {"pk": f"CLAIM#{name}", "sk": "CLAIM", "owner": owner},
                condition="attribute_not_exists(pk) OR #o = :o",
                names={"#o": "owner"},
                values={":o": owner},
            )
        except ConditionFailed:
            return False
        return True

    def release(self, name: str, owner: str) -> None:
        with contextlib.suppress(ConditionFailed):
            self.table.delete(
                f"CLAIM#{name}",
                "CLAIM",
                condition="#o = :o",
                names={"#o": "owner"},
                values={":o": owner},
            )

    def children(self, cls: type[R], parent_key: str, *, newest_first: bool = False) -> list[R]:
        """Children by the `parent` index (environments of a repo, deploys of an environment)."""
        items, _ = self.table.query(
            parent_key, sk_prefix=f"{cls.kind}#", index=PARENT, newest_first=newest_first
        )
        return [cls.model_validate(i) for i in items]

    def lookup(self, cls: type[R], handle: str) -> R | None:
        """Find a record by a global handle (`KEY#…`, `DEPLOY#…`) without its workspace.

        The index projects keys only and is eventually consistent, so the row itself
        is read again, consistently, from the base table.
        """
        items, _ = self.table.query(handle, index=LOOKUP, limit=1)
        item = self.table.get(items[0]["pk"], items[0]["sk"]) if items else None
        return cls.model_validate(item) if item else None

    def sweep(self, cls: type[R], group: str, *, older_than: str | None = None) -> list[R]:
        """Rows of a sweep group, those whose order key (a timestamp) is before `older_than`."""
        items, _ = self.table.query(group, index=SWEEP)
        return [
            cls.model_validate(i)
            for i in items
            if older_than is None or i.get("gsi3sk", "") < older_than
        ]

    # --- users and memberships (users exist outside any workspace) -----------------

    def find_user(self, user_id: str) -> User | None:
        item = self.table.get(user_pk(user_id), "PROFILE")
        return User.model_validate(item) if item else None

    def find_user_by_github_id(self, github_id: int) -> User | None:
        items, _ = self.table.query(f"GHUSER#{github_id}", index=LOOKUP, limit=1)
        item = self.table.get(items[0]["pk"], items[0]["sk"]) if items else None
        return User.model_validate(item) if item else None

    def create_user(self, user: User) -> User:
        item: dict[str, Any] = {
            "pk": user_pk(user.id),
            "sk": "PROFILE",
            **user.model_dump(mode="json"),
        }
        if user.github_id is not None:
            item.update(gsi1pk=f"GHUSER#{user.github_id}", gsi1sk="#")
        self.table.put(item, condition="attribute_not_exists(pk)")
        return user

    def memberships_of(self, user_id: str) -> list[Member]:
        items, _ = self.table.query(user_pk(user_id), index=PARENT)
        return [Member.model_validate(i) for i in items]

    # --- internals ------------------------------------------------------------------

    @staticmethod
    def _item(record: Record) -> dict[str, Any]:
        return {
            "pk": workspace_pk(record.workspace_id),
            "sk": record_sk(record.kind, record.id),
            "type": record.kind,
            **record.model_dump(mode="json"),
            **index_attributes(record),
        }
