"""The commands, one module per group; each has `register(commands, common)`.

`common` is the parent parser of every leaf command: `--json` and `--profile`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from vmkit_cli.context import Context

Run = Callable[[Context], int]


def leaf(
    commands: argparse._SubParsersAction,
    name: str,
    run: Run,
    common: argparse.ArgumentParser,
    help: str,
    description: str | None = None,
) -> argparse.ArgumentParser:
    """A command that runs something (rather than a group of commands)."""
    parser = commands.add_parser(
        name, parents=[common], help=help, description=description or help[:1].upper() + help[1:]
    )
    parser.set_defaults(run=run)
    return parser


def group(commands: argparse._SubParsersAction, name: str, help: str) -> argparse._SubParsersAction:
    parser = commands.add_parser(name, help=help, description=help[:1].upper() + help[1:])
    return parser.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")


def environment_arguments(parser: argparse.ArgumentParser, *, positional: bool = True) -> None:
    """ENV (a name or an id; optional while there is only one) and --repo to disambiguate."""
    help = "environment name or id (optional when there is only one)"
    if positional:
        parser.add_argument("env", nargs="?", metavar="ENV", help=help)
    else:
        parser.add_argument("-e", "--env", metavar="ENV", help=help)
    parser.add_argument(
        "--repo", metavar="OWNER/NAME", help="the environment's repo, when several have ENV"
    )
