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


def cmd_init(args: argparse.Namespace) -> int:
    """Write the onboarding files into a local checkout, as `kamal init` does: no account needed."""
    from vmkit.ai import init_local

    result = init_local(
        args.path,
        force=args.force,
        dry_run=args.dry_run,
        apps_domain=args.apps_domain,
        env=args.env,
        owner=args.owner,
        repo=args.repo,
        app_path=args.app_path,
    )
    if args.json:
        print(result.model_dump_json(indent=2))
        return 0
    scan = result.scan
    print(
        f"{result.owner}/{result.repo}: {scan.language}"
        + (f" ({scan.framework})" if scan.framework else "")
        + f", port {scan.port}, health {scan.health_path}"
    )
    for file in result.files:
        if args.dry_run:
            print(f"\n--- {file.path} ({file.action}) ---\n{file.content}")
        else:
            print(f"  {file.action:<8} {file.path}")
    if result.checklist:
        print("\nBefore you deploy:")
        for item in result.checklist:
            print(f"  - {item}")
    print(f"\nThe app will answer at {result.app_url}")
    return 0


def cmd_admin_publish_agent(args: argparse.Namespace) -> int:
    """Build the agent and upload it where new VMs and upgrades download it from."""
    import boto3

    from vmkit_agent.build import build_agent

    outputs = boto3.client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"][0][
        "Outputs"
    ]
    bucket = {o["OutputKey"]: o["OutputValue"] for o in outputs}["AgentArtifactsBucket"]
    from vmkit.adapters.artifacts import AGENT_KEY, publish_agent

    build = build_agent(Path(args.out), version=args.version)
    publish_agent(
        boto3.client("s3"),
        bucket,
        build.path.read_bytes(),
        sha256=build.sha256,
        version=build.version,
    )
    print(
        f"published vmkit-agent {build.version} (sha256 {build.sha256}) to s3://{bucket}/{AGENT_KEY}"
    )
    return 0


def cmd_local_up(args: argparse.Namespace) -> int:
    """The whole control plane and a stand-in cloud, offline, until Ctrl-C."""
    from vmkit_local.cli import serve
    from vmkit_local.embedded import EmbeddedConfig, build

    config = EmbeddedConfig()
    if args.data_dir:
        config.data_dir = Path(args.data_dir)
    stack, _ = build(config)
    serve(stack)
    return 0


def cmd_local_down(args: argparse.Namespace) -> int:
    import signal

    state = _local_state()
    if state is None:
        print("no local stack is running")
        return 0
    os.kill(int(state["pid"]), signal.SIGTERM)
    print(f"asked the local stack (pid {state['pid']}) to stop")
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

    publish = admin.add_parser(
        "publish-agent", help="build the agent and publish it to a deployed stack"
    )
    publish.add_argument(
        "--stack", required=True, help="the CloudFormation stack (sam deploy's stack name)"
    )
    publish.add_argument(
        "--version", help="version to stamp into the build (default: the package's)"
    )
    publish.add_argument("--out", default="dist", help="where to build it (default: dist/)")
    publish.set_defaults(func=cmd_admin_publish_agent)

    local = commands.add_parser("local", help="the embedded local stack")
    local_commands = local.add_subparsers(dest="local", required=True)
    up = local_commands.add_parser("up", help="run VMKit and a stand-in cloud here until Ctrl-C")
    up.add_argument("--data-dir", help="where state is kept across restarts (default: .vmkit/data)")
    up.set_defaults(func=cmd_local_up)
    down = local_commands.add_parser("down", help="stop the stack `vmkit local up` started")
    down.set_defaults(func=cmd_local_down)

    init = commands.add_parser(
        "init", help="write VMKit's workflow and Kamal config into a checkout"
    )
    init.add_argument("path", nargs="?", default=".", help="the checkout (default: here)")
    init.add_argument("--force", action="store_true", help="overwrite files that exist")
    init.add_argument(
        "--dry-run", action="store_true", help="print the files instead of writing them"
    )
    init.add_argument("--json", action="store_true", help="print the scan and the files as JSON")
    init.add_argument("--env", default="production", help="environment name (default: production)")
    init.add_argument(
        "--apps-domain", default="vmkit.app", help="domain the app's host name is under"
    )
    init.add_argument("--owner", help="GitHub owner (default: from the origin remote)")
    init.add_argument("--repo", help="GitHub repo name (default: from the origin remote)")
    init.add_argument("--app-path", help="the app's folder inside a monorepo")
    init.set_defaults(func=cmd_init)
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
