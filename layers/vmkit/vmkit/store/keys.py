"""The single-table layout: every key and index attribute is composed here, in one place.

Base table: pk `WS#{workspace}`, sk `{KIND}#{id}` — everything a workspace owns, so a
caller can only ever address rows of its own workspace (isolation by key).
GSI1 `lookup`: find a row by a globally unique handle without knowing its workspace
  (`KEY#{api key id}`, `SESSION#{id}`, `AGENT#{agent token id}`, `DEPLOY#{id}`,
  `GHREPO#{github repo id}`, `GHUSER#{github user id}`, `PRWAIT#{repo id}`).
GSI2 `parent`: children of a parent (`REPO#{id}` → environments, `ENV#{id}` → deploys,
  `INSTALLATION#{github id}` → repos, `USER#{id}` → memberships).
GSI3 `sweep`: sparse, for the scheduled sweepers (`ACTIVE_DEPLOY` by deadline,
  `CONNECTED_AGENT` by last seen, `COMPUTE_TARGET` by creation).
Global rows outside workspaces: `USER#{id}`, `CONN#{connection id}`,
`WAIT#{deploy}` / `{what}` (task tokens), `DELIVERY#{id}` (webhook dedupe), `CALL#{id}`
(agent RPC replies, with `CHUNK#{n}` rows for chunked ones), `CLAIM#{name}` (globally
unique names). Rows that should expire carry `expires_at` (the TTL attribute).
"""

from __future__ import annotations

from typing import Any

from vmkit.models import (
    ApiKey,
    ComputeTarget,
    Deploy,
    Environment,
    Instance,
    Member,
    Record,
    Repo,
    Session,
)

LOOKUP, PARENT, SWEEP = "gsi1", "gsi2", "gsi3"
INDEX_ATTRIBUTES = ("gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "gsi3pk", "gsi3sk")

# What each kind is found by in the lookup index, its parent, and its sweep group.
_LOOKUP_PREFIX: dict[type[Record], str] = {
    ApiKey: "KEY",
    Session: "SESSION",
    Instance: "AGENT",  # by agent token id
    Deploy: "DEPLOY",
    Repo: "GHREPO",  # by GitHub's repo id
}
_PARENT_PREFIX: dict[type[Record], str] = {
    Environment: "REPO",
    Deploy: "ENV",
    Repo: "INSTALLATION",  # repos by the installation they are connected through
}
SWEEP_GROUP: dict[type[Record], str] = {
    Deploy: "ACTIVE_DEPLOY",
    Instance: "CONNECTED_AGENT",
    ComputeTarget: "COMPUTE_TARGET",  # every target, for the sweep of orphan VMs
}


def workspace_pk(workspace_id: str) -> str:
    return f"WS#{workspace_id}"


def record_sk(kind: str, record_id: str) -> str:
    return f"{kind}#{record_id}"


def user_pk(user_id: str) -> str:
    return f"USER#{user_id}"


def github_user_handle(github_id: int) -> str:
    return f"GHUSER#{github_id}"


def lookup_handle(cls: type[Record], handle_id: str | int) -> str:
    return f"{_LOOKUP_PREFIX[cls]}#{handle_id}"


def parent_key(cls: type[Record], parent_id: str) -> str:
    return f"{_PARENT_PREFIX[cls]}#{parent_id}"


def connection_key(connection_id: str) -> tuple[str, str]:
    return f"CONN#{connection_id}", "CONN"


def call_key(call_id: str) -> tuple[str, str]:
    return f"CALL#{call_id}", "CALL"


def call_chunk_sk(index: int) -> str:
    return f"CHUNK#{index:05d}"


CALL_CHUNK_PREFIX = "CHUNK#"


def wait_key(deploy_id: str, what: str) -> tuple[str, str]:
    return f"WAIT#{deploy_id}", what


def pr_wait_handle(repo_id: str) -> str:
    return f"PRWAIT#{repo_id}"


def delivery_key(delivery_id: str) -> tuple[str, str]:
    return f"DELIVERY#{delivery_id}", "DELIVERY"


def claim_key(name: str) -> tuple[str, str]:
    return f"CLAIM#{name}", "CLAIM"


class Claims:
    """Names that must be unique beyond one record, and who holds each."""

    @staticmethod
    def repo(workspace_id: str, full_name: str) -> str:
        return f"REPO#{workspace_id}#{full_name.lower()}"

    @staticmethod
    def environment_name(repo_id: str, slug: str) -> str:
        return f"ENVNAME#{repo_id}#{slug}"

    @staticmethod
    def hostname(hostname: str) -> str:
        return f"HOST#{hostname}"

    @staticmethod
    def installation(installation_id: int | str) -> str:
        return f"INSTALLATION#{installation_id}"


def index_attributes(record: Record) -> dict[str, Any]:
    """The GSI attributes a record carries; absent attributes keep the sparse indexes small."""
    attrs: dict[str, Any] = {}

    def lookup(handle_id: str | int) -> None:
        attrs.update(gsi1pk=lookup_handle(type(record), handle_id), gsi1sk="#")

    def parent(parent_id: str) -> None:
        attrs.update(
            gsi2pk=parent_key(type(record), parent_id), gsi2sk=record_sk(record.kind, record.id)
        )

    def sweep(order: str) -> None:
        attrs.update(gsi3pk=SWEEP_GROUP[type(record)], gsi3sk=order)

    match record:
        case ApiKey() | Session():
            lookup(record.id)
        case Member():
            attrs.update(gsi2pk=user_pk(record.id), gsi2sk=workspace_pk(record.workspace_id))
        case Repo():
            if record.github_repo_id is not None:
                lookup(record.github_repo_id)
            if record.installation_id is not None:
                attrs.update(
                    gsi2pk=parent_key(Repo, str(record.installation_id)),
                    gsi2sk=record_sk(record.kind, record.id),
                )
        case Environment():
            parent(record.repo_id)
        case ComputeTarget():
            sweep(record.created_at.isoformat())
        case Instance():
            if record.agent_token_id:
                lookup(record.agent_token_id)
            if record.agent_connected and record.last_seen_at:
                sweep(record.last_seen_at.isoformat())
        case Deploy():
            lookup(record.id)
            parent(record.environment_id)
            if not record.status.terminal:
                sweep((record.deadline_at or record.created_at).isoformat())
    return attrs
