"""`vmkit keys …`: API keys for CI, scripts and AI agents. A new key is shown once."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from rich.text import Text

from vmkit.models import Scope
from vmkit.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic
from vmkit_cli import resolve
from vmkit_cli.commands import group, leaf
from vmkit_cli.context import Context
from vmkit_cli.errors import UsageError
from vmkit_cli.output import ago


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    keys = group(commands, "keys", "API keys (vmk_…) for CI, scripts and AI agents")
    create = leaf(keys, "create", run_create, common, "create a key; it is printed once")
    create.add_argument("name", metavar="NAME", help="what it is for, e.g. 'github actions'")
    create.add_argument(
        "--scope",
        choices=[s.value for s in Scope],
        default=Scope.deploy.value,
        help="read, deploy (includes read) or admin (includes both); default: deploy",
    )
    create.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="ENV",
        help="restrict it to this environment (repeatable; default: all)",
    )
    create.add_argument("--repo", metavar="OWNER/NAME", help="the repo of the --env names")
    leaf(keys, "list", run_list, common, "list keys (never their secret part)")
    rotate = leaf(
        keys, "rotate", run_rotate, common, "replace a key: the old one stops working now"
    )
    rotate.add_argument("key", metavar="KEY_ID|NAME")
    revoke = leaf(keys, "revoke", run_revoke, common, "revoke a key: it stops working now")
    revoke.add_argument("key", metavar="KEY_ID|NAME")


def run_create(ctx: Context) -> int:
    args = ctx.args
    env_ids = [resolve.environment(ctx.client, name, args.repo).env.id for name in args.env]
    created = ctx.client.create_key(
        ApiKeyCreate(name=args.name, scopes=[Scope(args.scope)], environment_ids=env_ids)
    )
    return _show_new(ctx, created, "created")


def run_rotate(ctx: Context) -> int:
    created = ctx.client.rotate_key(_key_id(ctx, ctx.args.key))
    return _show_new(ctx, created, "rotated; the old key no longer works. New")


def run_revoke(ctx: Context) -> int:
    revoked = ctx.client.revoke_key(_key_id(ctx, ctx.args.key))
    return ctx.out.result(
        revoked, f"revoked key {revoked.name} ({revoked.id}); it stops working now"
    )


def run_list(ctx: Context) -> int:
    now = datetime.now(UTC)
    return ctx.out.listing(
        ctx.client.list_keys(),
        ["ID", "NAME", "SCOPE", "ENVIRONMENTS", "LAST USED", "REVOKED"],
        lambda k: [
            k.id,
            k.name,
            ",".join(s.value for s in k.scopes),
            ",".join(k.environment_ids) or "all",
            ago(k.last_used_at, now),
            ago(k.revoked_at, now) if k.revoked_at else "-",
        ],
        "no keys",
    )


def _show_new(ctx: Context, created: ApiKeyCreated, what: str) -> int:
    scope = ",".join(s.value for s in created.scopes)
    return ctx.out.result(
        created,
        f"{what} key {created.name} ({created.id}, scope {scope}):",
        Text(f"  {created.key}", style="bold"),
        "it is shown only this once: store it now (a CI secret, a password manager)",
    )


def _key_id(ctx: Context, ref: str) -> str:
    keys: list[ApiKeyPublic] = [k for k in ctx.client.list_keys() if k.revoked_at is None]
    found = [k for k in keys if ref in (k.id, k.name)]
    if not found:
        raise UsageError(f"no live key {ref!r}", hint="see them with `vmkit keys list`")
    if len(found) > 1:
        raise UsageError(
            f"several keys are named {ref!r}: {', '.join(k.id for k in found)}",
            hint="name one by its id",
        )
    return found[0].id
