"""`vmkit login`, `logout`, `whoami`: which VMKit this terminal talks to, as whom."""

from __future__ import annotations

import argparse

from vmkit_cli import localstack, profiles, prompts
from vmkit_cli.client import ApiError
from vmkit_cli.commands import leaf
from vmkit_cli.connection import Connection
from vmkit_cli.context import Context
from vmkit_cli.errors import CliError
from vmkit_cli.shapes import Removed, Session


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    login = leaf(
        commands,
        "login",
        run_login,
        common,
        "log in to the local stack here, or to VMKit on AWS with --url and an API key",
        "Log in and make this the current profile. Without --url: the local stack running "
        "in this checkout (found from .vmkit/local.json). With --url: the API key is read "
        "from a hidden prompt, or from stdin when piped (`vmkit login --url URL < key.txt`).",
    )
    login.add_argument("--url", help="VMKit's API URL (the stack's ApiUrl output)")
    login.add_argument("--key", help=argparse.SUPPRESS)  # refused with advice: never in argv
    leaf(commands, "logout", run_logout, common, "forget a profile (its key stays valid)")
    leaf(commands, "whoami", run_whoami, common, "who the current credential is, and where")


def run_login(ctx: Context) -> int:
    args = ctx.args
    if args.key:
        raise prompts.refuse_in_argv("API key", "vmkit login --url URL < key.txt")
    chosen = profiles.chosen_name(args.profile)
    if args.url:
        name = chosen or "default"
        url = args.url.rstrip("/")
        conn = Connection(url, prompts.read_secret("API key"), name)
        profile = profiles.Profile(url=url, key=conn.key)
    else:
        stack = localstack.find()
        if stack is None:
            raise CliError(
                "no local stack is running here (no live .vmkit/local.json in this directory, "
                "its parents, or VMKit's checkout)",
                hint="start one with `vmkit local up`, or log in to AWS with `vmkit login --url URL`",
            )
        name = chosen or "local"
        conn = Connection(stack.rest_url, stack.api_key, name, stack)
        profile = profiles.Profile(local_state=str(stack.path))
    ctx.connection = conn  # so a failure below gets this connection's hints
    try:
        identity = ctx.connect(conn.url, conn.key).whoami()  # never save a key that fails
    except ApiError as exc:
        if exc.code == "unauthenticated":
            exc.hint = "check the key (it looks like vmk_…); nothing was saved"
        raise
    config = profiles.load()
    config.profiles[name] = profile
    config.current = name
    config.save()
    session = Session(
        profile=name, url=conn.url, local_state=profile.local_state, identity=identity
    )
    return ctx.out.result(
        session,
        f"logged in to {conn.where} as {identity.actor} (workspace {identity.workspace_id}, "
        f"scope {identity.scope.value})",
        f"profile {name!r} saved in {config.path} and made current",
    )


def run_logout(ctx: Context) -> int:
    config = profiles.load()
    name = profiles.chosen_name(ctx.args.profile) or config.current
    if name is None:
        raise CliError("not logged in to any profile", hint="nothing to do")
    profiles.get(config, name)
    del config.profiles[name]
    if config.current == name:
        config.current = None
    config.save()
    return ctx.out.result(
        Removed(profile=name),
        f"forgot profile {name!r}; its key still works until revoked (`vmkit keys revoke`)",
    )


def run_whoami(ctx: Context) -> int:
    identity = ctx.client.whoami()
    conn = ctx.connection
    session = Session(
        profile=conn.profile,
        url=conn.url,
        local_state=str(conn.local.path) if conn.local else None,
        identity=identity,
    )
    if ctx.out.json_mode:
        ctx.out.emit(session)
        return 0
    restricted = ", ".join(identity.environment_ids) or "all environments"
    ctx.out.fields(
        [
            ("actor", identity.actor),
            ("workspace", identity.workspace_id),
            ("scope", identity.scope.value),
            ("role", identity.role.value if identity.role else None),
            ("key", identity.key_id),
            ("may act on", restricted),
            ("connected to", conn.where),
            ("profile", conn.profile or "none (the local stack found here)"),
        ]
    )
    return 0
