"""The audit log: who changed what, through which interface, with which key."""

from __future__ import annotations

from typing import Any

from vmkit.auth import Principal
from vmkit.deps import Deps
from vmkit.ids import new_id
from vmkit.models import AuditEvent, Scope
from vmkit.store import Page


def record(
    deps: Deps, principal: Principal, action: str, target_type: str, target_id: str, **details: Any
) -> AuditEvent:
    """Write one event. Callers pass names and ids in `details`, never secret values."""
    event = AuditEvent(
        id=new_id("audit"),
        workspace_id=principal.workspace_id,
        actor=principal.actor,
        key_id=principal.key_id,
        interface=principal.interface,
        action=action,
        target_type=target_type,
        target_id=target_id,
        details=details,
    )
    return deps.store.create(event)


def list_events(
    deps: Deps, principal: Principal, *, limit: int = 50, cursor: str | None = None
) -> Page[AuditEvent]:
    principal.require(Scope.read)
    return deps.store.list(
        AuditEvent, principal.workspace_id, limit=limit, cursor=cursor, newest_first=True
    )
