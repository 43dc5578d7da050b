"""Commands for operators and for this machine: `vmkit admin …`, `vmkit local …`, `vmkit init`.

`admin` commands act on the control plane's resources directly rather than through
the API (bootstrap comes before any key exists). They build the domain's `Deps` with
explicit settings, for the stack they are pointed at: the local stack running here
(its `.vmkit/local.json` names the table, the key and the AWS endpoint), or a
CloudFormation stack on AWS with `--stack`, read with the usual AWS credentials.
"""

from __future__ import annotations

import argparse
import os
import signal
from pathlib import Path
from typing import Any

from vmkit_cli import localstack
from vmkit_cli.commands import group, leaf
from vmkit_cli.context import Context
from vmkit_cli.errors import CliError


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    admin = group(commands, "admin", "operator commands, on the control plane directly")
    bootstrap = leaf(
        admin,
        "bootstrap",
        run_bootstrap,
        common,
        "create a workspace and print its first admin key",
    )
    bootstrap.add_argument("--name", default="default", help="workspace name")
    bootstrap.add_argument(
        "--stack", help="CloudFormation stack on AWS (default: the local stack running here)"
    )
    publish = leaf(
        admin,
        "publish-agent",
        run_publish_agent,
        common,
        "build the agent and publish it to a deployed stack",
    )
    publish.add_argument(
        "--stack", required=True, help="the CloudFormation stack (sam deploy's stack name)"
    )
    publish.add_argument(
        "--version", help="version to stamp into the build (default: the package's)"
    )
    publish.add_argument("--out", default="dist", help="where to build it (default: dist/)")

    local = group(commands, "local", "the embedded local stack")
    up = local.add_parser(
        "up",
        help="run VMKit and a stand-in cloud here until Ctrl-C",
        description="Run VMKit and a stand-in cloud on this machine until Ctrl-C.",
    )
    up.add_argument("--data-dir", help="where state is kept across restarts (default: .vmkit/data)")
    up.add_argument(
        "--vm",
        action="store_true",
        help="servers are real qemu guests (needs qemu, mmdebstrap; see local/vmkit_local/vm/)",
    )
    up.set_defaults(run=run_local_up)
    leaf(local, "down", run_local_down, common, "stop the stack `vmkit local up` started")

    init = leaf(
        commands,
        "init",
        run_init,
        common,
        "write VMKit's workflow and Kamal config into a checkout",
    )
    init.add_argument("path", nargs="?", default=".", help="the checkout (default: here)")
    init.add_argument("--force", action="store_true", help="overwrite files that exist")
    init.add_argument(
        "--dry-run", action="store_true", help="print the files instead of writing them"
    )
    init.add_argument("--env", default="production", help="environment name (default: production)")
    init.add_argument(
        "--apps-domain", default="vmkit.app", help="domain the app's host name is under"
    )
    init.add_argument("--owner", help="GitHub owner (default: from the origin remote)")
    init.add_argument("--repo", help="GitHub repo name (default: from the origin remote)")
    init.add_argument("--app-path", help="the app's folder inside a monorepo")


# --- admin ------------------------------------------------------------------------------------


def control_plane(stack_name: str | None) -> Any:
    """The domain's `Deps` for the stack named, or for the local stack running here."""
    import boto3

    from vmkit.crypto import Sealer
    from vmkit.deps import Deps
    from vmkit.settings import Settings
    from vmkit.store import Store, Table

    if stack_name:
        outputs = _stack_outputs(stack_name)
        return Deps(Settings(table_name=outputs["TableName"], kms_key_id=outputs["KeyArn"]))
    local = localstack.find()
    if local is None:
        raise CliError(
            "no local stack is running here",
            hint="start one with `vmkit local up`, or name a stack on AWS with --stack NAME",
        )
    facts = local.facts
    if not facts.get("table_name") or not facts.get("aws_endpoint_url"):
        raise CliError(
            f"{local.path} does not say where the stack's table is",
            hint="restart the stack (`vmkit local down`, then `vmkit local up`)",
        )
    # The local stack's AWS is moto at its own endpoint, which takes any credentials;
    # these keep the operator's real ones out of it.
    session = boto3.Session(
        region_name=facts.get("region") or "us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106
    )
    endpoint = facts["aws_endpoint_url"]
    settings = Settings(table_name=facts["table_name"], kms_key_id=facts.get("kms_key_id") or "")
    return Deps(
        settings,
        store=Store(Table(settings.table_name, session.client("dynamodb", endpoint_url=endpoint))),
        sealer=Sealer(settings.kms_key_id, session.client("kms", endpoint_url=endpoint)),
    )


def _stack_outputs(stack_name: str) -> dict[str, str]:
    import boto3

    stack = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def run_bootstrap(ctx: Context) -> int:
    from vmkit.schemas import WorkspaceBootstrap
    from vmkit.services.workspaces import bootstrap_workspace

    workspace, key = bootstrap_workspace(control_plane(ctx.args.stack), ctx.args.name)
    result = WorkspaceBootstrap(workspace_id=workspace.id, name=workspace.name, api_key=key)
    return ctx.out.result(
        result,
        f"workspace {workspace.id} ({workspace.name})",
        f"admin API key (shown once, store it now): {key}",
        "log in with it: `vmkit login --url API_URL` and paste the key",
    )


def run_publish_agent(ctx: Context) -> int:
    """Build the agent and upload it where new VMs and upgrades download it from."""
    import boto3

    from vmkit.adapters.artifacts import AGENT_KEY, publish_agent
    from vmkit_agent.build import build_agent

    bucket = _stack_outputs(ctx.args.stack)["AgentArtifactsBucket"]
    build = build_agent(Path(ctx.args.out), version=ctx.args.version)
    publish_agent(
        boto3.client("s3"),
        bucket,
        build.path.read_bytes(),
        sha256=build.sha256,
        version=build.version,
    )
    summary = {
        "version": build.version,
        "sha256": build.sha256,
        "url": f"s3://{bucket}/{AGENT_KEY}",
    }
    return ctx.out.result(
        summary,
        f"published vmkit-agent {build.version} (sha256 {build.sha256}) to {summary['url']}",
    )


# --- local ------------------------------------------------------------------------------------


def run_local_up(ctx: Context) -> int:
    """The whole control plane and a stand-in cloud, offline, until Ctrl-C."""
    from vmkit_local.cli import serve
    from vmkit_local.embedded import EmbeddedConfig, build

    config = EmbeddedConfig(vm=ctx.args.vm)
    if ctx.args.data_dir:
        config.data_dir = Path(ctx.args.data_dir)
    if ctx.args.vm:
        config.agent_wait_seconds = 600  # a first boot under software emulation
    stack, _ = build(config)
    serve(stack)
    return 0


def run_local_down(ctx: Context) -> int:
    stack = localstack.find()
    if stack is None:
        return ctx.out.result({"stopped": None}, "no local stack is running")
    pid = int(stack.facts["pid"])
    os.kill(pid, signal.SIGTERM)
    return ctx.out.result({"stopped": pid}, f"asked the local stack (pid {pid}) to stop")


# --- init -------------------------------------------------------------------------------------


def run_init(ctx: Context) -> int:
    """Write the onboarding files into a local checkout, as `kamal init` does: no account needed."""
    from vmkit.ai import init_local

    args = ctx.args
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
    if ctx.out.json_mode:
        ctx.out.emit(result)
        return 0
    out, scan = ctx.out, result.scan
    out.line(
        f"{result.owner}/{result.repo}: {scan.language}"
        + (f" ({scan.framework})" if scan.framework else "")
        + f", port {scan.port}, health {scan.health_path}"
    )
    for file in result.files:
        if args.dry_run:
            out.line(f"\n--- {file.path} ({file.action}) ---\n{file.content}")
        else:
            out.line(f"  {file.action:<8} {file.path}")
    if result.checklist:
        out.line("\nBefore you deploy:")
        for item in result.checklist:
            out.line(f"  - {item}")
    out.line(f"\nThe app will answer at {result.app_url}")
    return 0
