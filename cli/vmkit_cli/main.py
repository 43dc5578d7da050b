"""`vmkit`: deploy and run apps on VMKit from a terminal.

Every command for people goes through VMKit's REST API, the same one the dashboard
and scripts use, so the CLI works the same against the local stack and against AWS.
Errors are one line on stderr (what happened, the API's code, what to do) and never
a traceback; the exit code says how it ended (`vmkit_cli.errors`).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import NoReturn

import httpx

from vmkit_cli.client import Unreachable
from vmkit_cli.commands import auth, completion, deploy, keys, operate, operator, setup
from vmkit_cli.context import Context
from vmkit_cli.errors import USAGE, CliError
from vmkit_cli.output import Output

EPILOG = """\
exit codes: 0 succeeded, 1 failed, 2 usage (wrong command line), 3 cancelled
environment: VMKIT_PROFILE (the profile to use), NO_COLOR (no colour), XDG_CONFIG_HOME
(where config.toml is), VMKIT_DEBUG=1 (print a traceback on an unexpected error)
"""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors, which never echo a value that may be a secret."""

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments:"):
            words = message.partition(":")[2].split()
            options = [w.split("=", 1)[0] for w in words if w.startswith("-")]
            hidden = len(words) - len(options)
            message = "unexpected " + ", ".join(
                [
                    *options,
                    *([f"{hidden} argument(s) (not shown: may be a secret)"] if hidden else []),
                ]
            )
        self.exit(USAGE, f"error: {message}; see `{self.prog} --help`\n")


def build_parser() -> Parser:
    parser = Parser(
        prog="vmkit",
        description="Deploy and run apps on VMKit from a terminal.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vmkit {_version()}")
    _common_options(parser, suppress=False)
    # The same options after the command (`vmkit deploy --json`); SUPPRESS keeps a value
    # given before it (`vmkit --json deploy`) from being reset by the command's default.
    common = argparse.ArgumentParser(add_help=False)
    _common_options(common, suppress=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (auth, setup, deploy, operate, keys, operator, completion):
        module.register(commands, common)
    return parser


def _common_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="print JSON (shapes: cli/vmkit_cli/README.md)",
    )
    parser.add_argument(
        "--profile",
        default=argparse.SUPPRESS if suppress else None,
        help="profile in config.toml (default: $VMKIT_PROFILE, the current one)",
    )


def _version() -> str:
    try:
        return version("vmkit")
    except PackageNotFoundError:
        return "unknown"


def main(argv: Sequence[str] | None = None, *, transport: httpx.BaseTransport | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Output(json_mode=getattr(args, "json", False))
    ctx = Context(args, out, transport)
    try:
        return args.run(ctx)
    except CliError as exc:
        if isinstance(exc, Unreachable) and exc.hint is None and ctx.connected:
            exc.hint = ctx.connection.unreachable_hint()
        return _fail(out, exc)
    except KeyboardInterrupt:
        out.errors.print("interrupted")
        return 130
    except BrokenPipeError:  # `vmkit … | head`: the reader has what it wanted
        sys.stderr.close()
        return 0
    except Exception as exc:
        return _fail(out, _as_cli_error(exc))


def _as_cli_error(exc: Exception) -> CliError:
    """Domain and AWS errors get their own line; anything else is a bug, said as one."""
    from vmkit.errors import VMKitError

    if isinstance(exc, VMKitError):
        return CliError(exc.message, code=exc.code)
    if type(exc).__module__.startswith("botocore"):
        return CliError(
            f"AWS: {exc}", hint="check your AWS credentials and region (AWS_PROFILE, AWS_REGION)"
        )
    if os.environ.get("VMKIT_DEBUG"):
        traceback.print_exc()
    return CliError(
        f"unexpected {type(exc).__name__}: {exc}",
        hint="this is a bug in vmkit; VMKIT_DEBUG=1 prints the traceback",
    )


def _fail(out: Output, exc: CliError) -> int:
    if out.json_mode:  # a script reading stdout gets a document either way
        error = {"code": exc.code, "message": exc.message, "hint": exc.hint}
        out.emit({"error": {k: v for k, v in error.items() if v is not None}})
    out.error(exc.line())
    return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
