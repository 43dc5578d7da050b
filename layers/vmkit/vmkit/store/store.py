"""Domain-level access to the table: records in and out, with the conditional writes.

Every record belongs to a workspace, and every method that reads one takes the
caller's workspace id, so there is no call that can fetch another workspace's row.
Updates are optimistic: `save` succeeds only if nobody changed the row since it was
read, which is how races (two deploys, two webhooks) are settled.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from vmkit.errors import Conflict, NotFound
from vmkit.models import Member, Record, User, utcnow
from vmkit.store.keys import (
    INDEX_ATTRIBUTES,
    LOOKUP,
    PARENT,
    SWEEP,
    SWEEP_GROUP,
    claim_key,
    github_user_handle,
    index_attributes,
    lookup_handle,
    parent_key,
    record_sk,
    user_pk,
    workspace_pk,
)
from vmkit.store.runtime import AgentCalls, Connections, Deliveries, Waits
from vmkit.store.table import ConditionFailed, Table, decode_cursor, encode_cursor

R = TypeVar("R", bound=Record)
T = TypeVar("T")
U = TypeVar("U")

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
    "INSTALLATION": "GitHub App installation",
    "RELEASE": "release",
}


def label(cls: type[Record]) -> str:
    return _KIND_LABEL.get(cls.kind, cls.kind.lower())


@dataclass
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None

    def map(self, convert: Callable[[T], U]) -> Page[U]:
        """The same page with each item converted (records to their public models)."""
        return Page([convert(item) for item in self.items], self.next_cursor)

    def keep(self, wanted: Callable[[T], bool]) -> Page[T]:
        return Page([item for item in self.items if wanted(item)], self.next_cursor)


class Store:
    def __init__(self, table: Table):
        self.table = table
        self.connections = Connections(table)
        self.calls = AgentCalls(table)
        self.waits = Waits(table)
        self.deliveries = Deliveries(table)

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

    def set_fields(self, record: R, *, expect: dict[str, Any] | None = None, **fields: Any) -> R:
        """Set bookkeeping attributes (last seen, connection) without a version bump.

        For facts that any writer may refresh at any time; never for state that a
        conditional `save` protects. The index attributes the new values imply (an
        agent leaving the connected-agents sweep, say) are derived here, as for
        `save`, and `record` is updated in place. A None value removes the attribute.
        With `expect`, the write happens only if those attributes still hold those
        values; otherwise nothing is written and the record is left as it was.
        """
        unknown = set(fields) - set(type(record).model_fields)
        if unknown:  # index attributes are derived, never set by callers
            raise TypeError(f"{type(record).__name__} has no field {', '.join(sorted(unknown))}")
        updated = type(record).model_validate({**record.model_dump(), **fields})
        stored = updated.model_dump(mode="json")  # each value exactly as `save` stores it
        before, after = index_attributes(record), index_attributes(updated)
        changes = {name: stored[name] for name in fields}
        changes |= {
            name: after.get(name)
            for name in INDEX_ATTRIBUTES
            if before.get(name) != after.get(name)
        }
        names = {f"#f{i}": name for i, name in enumerate(changes)}
        values = {f":v{i}": value for i, value in enumerate(changes.values()) if value is not None}
        sets = [f"#f{i} = :v{i}" for i in range(len(changes)) if f":v{i}" in values]
        removes = [f"#f{i}" for i in range(len(changes)) if f":v{i}" not in values]
        clauses = [f"SET {', '.join(sets)}"] if sets else []
        clauses += [f"REMOVE {', '.join(removes)}"] if removes else []
        condition = "attribute_exists(pk)"
        for i, (name, value) in enumerate((expect or {}).items()):
            names[f"#e{i}"], values[f":e{i}"] = name, value
            condition += f" AND #e{i} = :e{i}"
        try:
            self.table.update(
                workspace_pk(record.workspace_id),
                record_sk(record.kind, record.id),
                update=" ".join(clauses),
                condition=condition,
                names=names,
                values=values or None,
            )
        except ConditionFailed:
            if expect is None:
                raise
            return record
        for name in fields:
            setattr(record, name, getattr(updated, name))
        return record

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
        id_prefix: str = "",
    ) -> Page[R]:
        """A page of a kind's records, optionally only those whose id starts with
        `id_prefix` (an environment's releases)."""
        pk = workspace_pk(workspace_id)
        items, last = self.table.query(
            pk,
            sk_prefix=f"{cls.kind}#{id_prefix}",
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
        """Take a globally unique name (`keys.Claims`: a hostname, a repo in a workspace)
        for `owner`.

        Returns False if someone else holds it; claiming again for the same owner is a
        no-op, so a retried request does not lock itself out.
        """
        pk, sk = claim_key(name)
        try:
            self.table.put(
                {"pk": pk, "sk": sk, "owner": owner},
                condition="attribute_not_exists(pk) OR #o = :o",
                names={"#o": "owner"},
                values={":o": owner},
            )
        except ConditionFailed:
            return False
        return True

    def claim_owner(self, name: str) -> str | None:
        """Who holds a claimed name, if anyone (an installation's workspace)."""
        item = self.table.get(*claim_key(name))
        return str(item["owner"]) if item else None

    def release(self, name: str, owner: str) -> None:
        with contextlib.suppress(ConditionFailed):
            self.table.delete(
                *claim_key(name), condition="#o = :o", names={"#o": "owner"}, values={":o": owner}
            )

    def children(self, cls: type[R], parent_id: str, *, newest_first: bool = False) -> list[R]:
        """Children by the `parent` index: environments of a repo, deploys of an environment."""
        items, _ = self.table.query(
            parent_key(cls, parent_id),
            sk_prefix=f"{cls.kind}#",
            index=PARENT,
            newest_first=newest_first,
        )
        return [cls.model_validate(i) for i in items]

    def lookup(self, cls: type[R], handle_id: str | int) -> R | None:
        """Find a record by its global handle without its workspace: an API key or a
        session by id, an instance by agent token id, a deploy by id.

        The index projects keys only and is eventually consistent, so the row itself
        is read again, consistently, from the base table.
        """
        found = self.lookup_all(cls, handle_id, limit=1)
        return found[0] if found else None

    def lookup_all(
        self, cls: type[R], handle_id: str | int, *, limit: int | None = None
    ) -> list[R]:
        """Every record with this handle (a GitHub repo connected by several workspaces)."""
        items, _ = self.table.query(lookup_handle(cls, handle_id), index=LOOKUP, limit=limit)
        rows = [self.table.get(i["pk"], i["sk"]) for i in items]
        return [cls.model_validate(row) for row in rows if row]

    def sweep(self, cls: type[R], *, older_than: str | None = None) -> list[R]:
        """Rows of the kind's sweep group whose order key (a timestamp) is before `older_than`."""
        items, _ = self.table.query(SWEEP_GROUP[cls], index=SWEEP)
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
        items, _ = self.table.query(github_user_handle(github_id), index=LOOKUP, limit=1)
        item = self.table.get(items[0]["pk"], items[0]["sk"]) if items else None
        return User.model_validate(item) if item else None

    def create_user(self, user: User) -> User:
        item: dict[str, Any] = {
            "pk": user_pk(user.id),
            "sk": "PROFILE",
            **user.model_dump(mode="json"),
        }
        if user.github_id is not None:
            item.update(gsi1pk=github_user_handle(user.github_id), gsi1sk="#")
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
