"""The single-table layout: every key and index attribute is composed here, in one place.

Base table: pk `WS#{workspace}`, sk `{KIND}#{id}` — everything a workspace owns, so a
caller can only ever address rows of its own workspace (isolation by key).
GSI1 `lookup`: find a row by a globally unique handle without knowing its workspace
  (`KEY#{api key id}`, `SESSION#{id}`, `AGENT#{agent token id}`, `DEPLOY#{id}`,
  `GHREPO#{github repo id}`, `GHUSER#{github user id}`).
GSI2 `parent`: children of a parent (`REPO#{id}` → environments, `ENV#{id}` → deploys,
  `USER#{id}` → memberships).
GSI3 `sweep`: sparse, for the scheduled sweepers (`ACTIVE_DEPLOY` by deadline,
  `CONNECTED_AGENT` by last seen).
Global rows outside workspaces: `USER#{id}`, `CONN#{connection id}`,
`WAIT#{deploy}` / `{what}` (task tokens), `DELIVERY#{id}` (webhook dedupe), `CALL#{id}`
(agent RPC replies). Rows that should expire carry `expires_at` (the TTL attribute).
"""

from __future__ import annotations

from typing import Any

from vmkit.models import (
    ApiKey,
    Deploy,
    Environment,
    Instance,
    Member,
    Record,
    Repo,
    Session,
)

LOOKUP, PARENT, SWEEP = "gsi1", "gsi2", "gsi3"
ACTIVE_DEPLOY = "ACTIVE_DEPLOY"
CONNECTED_AGENT = "CONNECTED_AGENT"


def workspace_pk(workspace_id: str) -> str:
    return f"WS#{workspace_id}"


def record_sk(kind: str, record_id: str) -> str:
    return f"{kind}#{record_id}"


def user_pk(user_id: str) -> str:
    return f"USER#{user_id}"


def index_attributes(record: Record) -> dict[str, Any]:
    """The GSI attributes a record carries; absent attributes keep the sparse indexes small."""
    attrs: dict[str, Any] = {}

    def lookup(handle: str) -> None:
        attrs.update(gsi1pk=handle, gsi1sk="#")

    def parent(parent_key: str, child_key: str) -> None:
        attrs.update(gsi2pk=parent_key, gsi2sk=child_key)

    def sweep(group: str, order: str) -> None:
        attrs.update(gsi3pk=group, gsi3sk=order)

    match record:
        case ApiKey():
            lookup(f"KEY#{record.id}")
        case Session():
            lookup(f"SESSION#{record.id}")
        case Member():
            parent(user_pk(record.id), workspace_pk(record.workspace_id))
        case Repo() if record.github_repo_id is not None:
            lookup(f"GHREPO#{record.github_repo_id}")
        case Environment():
            parent(f"REPO#{record.repo_id}", record_sk("ENV", record.id))
        case Instance():
            if record.agent_token_id:
                lookup(f"AGENT#{record.agent_token_id}")
            if record.agent_connected and record.last_seen_at:
                sweep(CONNECTED_AGENT, record.last_seen_at.isoformat())
        case Deploy():
            lookup(f"DEPLOY#{record.id}")
            parent(f"ENV#{record.environment_id}", record_sk("DEPLOY", record.id))
            if not record.status.terminal:
                deadline = record.deadline_at or record.created_at
                sweep(ACTIVE_DEPLOY, deadline.isoformat())
    return attrs
