"""`vmkit`: the command line for operators and developers.

Commands that act on the control plane find it in this order: the local stack named
by `.vmkit/local.json` when one is running, else AWS as configured in the
environment (or a CloudFormation stack given with `--stack`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

LOCAL_STATE = Path(".vmkit/local.json")


def _local_state() -> dict[str, Any] | None:
    """The running local stack's coordinates, if one is up."""
    try:
        state = json.loads(LOCAL_STATE.read_text())
        os.kill(int(state["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return state


def _use_control_plane(stack: str | None) -> None:
    """Point boto3 and the settings at the control plane's table and key."""
    local = None if stack else _local_state()
    if local:
        os.environ.update({k: str(v) for k, v in local.get("env", {}).items()})
    elif stack:
        import boto3

        outputs = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0][
            "Outputs"
        ]
        by_key = {o["OutputKey"]: o["OutputValue"] for o in outputs}
        os.environ["TABLE_NAME"] = by_key["TableName"]
        os.environ["KMS_KEY_ID"] = by_key["KeyArn"]
    from vmkit.settings import get_settings

    get_settings.cache_clear()


def cmd_admin_bootstrap(args: argparse.Namespace) -> int:
    _use_control_plane(args.stack)
    from vmkit.deps import get_deps
    from vmkit.services.workspaces import bootstrap_workspace

    workspace, key = bootstrap_workspace(get_deps(), args.name)
    if args.json:
        print(json.dumps({"workspace_id": workspace.id, "name": workspace.name, "api_key": key}))
    else:
        print(f"workspace {workspace.id} ({workspace.name})")
        print(f"admin API key (shown once, store it now): {key}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vmkit", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    admin = commands.add_parser("admin", help="operator commands").add_subparsers(
        dest="admin", required=True
    )
    bootstrap = admin.add_parser(
        "bootstrap", help="create a workspace and print its first admin key"
    )
    bootstrap.add_argument("--name", default="default", help="workspace name")
    bootstrap.add_argument("--stack", help="CloudFormation stack to read the table and key from")
    bootstrap.add_argument("--json", action="store_true", help="print JSON")
    bootstrap.set_defaults(func=cmd_admin_bootstrap)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one clear line for people at a terminal, not a traceback
        from vmkit.errors import VMKitError

        if isinstance(exc, VMKitError):
            print(f"error: {exc.message}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
