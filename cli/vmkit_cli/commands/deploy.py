"""`vmkit deploy`, `vmkit deploys …` and `vmkit destroy`: runs of the state machines."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from rich.text import Text

from vmkit.schemas import DeployCreate, DeployPlan, DeployPublic
from vmkit_cli import prompts, resolve
from vmkit_cli.commands import environment_arguments, group, leaf
from vmkit_cli.context import Context
from vmkit_cli.errors import Cancelled, UsageError
from vmkit_cli.output import ago, duration, status_text
from vmkit_cli.watch import Watcher, seconds, step_line


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    deploy = leaf(
        commands,
        "deploy",
        run_deploy,
        common,
        "deploy an environment and follow it step by step",
        "Show the plan and its monthly cost, start the deploy and follow its steps until it "
        "ends. Exit codes: 0 succeeded, 1 failed, 2 usage, 3 cancelled. Ctrl-C asks whether "
        "to cancel the deploy or only stop watching.",
    )
    environment_arguments(deploy)
    deploy.add_argument("--ref", help="branch, tag or commit (default: the repo's branch)")
    deploy.add_argument("--no-wait", action="store_true", help="return once it has started")
    deploy.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")

    deploys = group(commands, "deploys", "deploys, resets and teardowns: list, show, cancel")
    listing = leaf(deploys, "list", run_deploys_list, common, "list recent deploys")
    environment_arguments(listing)
    listing.add_argument("--limit", type=int, default=20, help="how many (default: 20, max 100)")
    show = leaf(deploys, "show", run_deploys_show, common, "show a deploy's steps and outcome")
    show.add_argument("deploy_id", metavar="DEPLOY_ID")
    show.add_argument("--watch", action="store_true", help="follow it until it ends")
    cancel = leaf(
        deploys,
        "cancel",
        run_deploys_cancel,
        common,
        "cancel a running deploy (by its id, or the environment's active one)",
    )
    cancel.add_argument("target", nargs="?", metavar="DEPLOY_ID|ENV")
    cancel.add_argument("--repo", metavar="OWNER/NAME", help="the environment's repo")

    destroy = leaf(
        commands,
        "destroy",
        run_destroy,
        common,
        "destroy an environment: its VM, DNS record and deploy secrets",
        "Destroy an environment for good: its VM and everything on it, its DNS record and "
        "its deploy secrets. The repo and its files stay. Asks you to type the environment's "
        "name, unless --yes.",
    )
    environment_arguments(destroy)
    destroy.add_argument("--yes", action="store_true", help="do not ask for the name")
    destroy.add_argument("--no-wait", action="store_true", help="return once it has started")


def run_deploy(ctx: Context) -> int:
    args, out = ctx.args, ctx.out
    named = resolve.environment(ctx.client, args.env, args.repo)
    plan = ctx.client.plan_deploy(named.env.id)
    print_plan(ctx, named, plan)  # for people only: JSON is the plan (dry run) or the deploy
    if args.dry_run:
        return out.result(plan)
    deploy = ctx.client.start_deploy(named.env.id, DeployCreate(ref=args.ref))
    out.line(f"\ndeploy {deploy.id} started: {named.label} at {deploy.ref}")
    return follow(ctx, deploy, "deploy", wait=not args.no_wait)


def follow(ctx: Context, deploy: DeployPublic, what: str, *, wait: bool) -> int:
    """Watch until the end (unless told not to); print the outcome; its exit code."""
    watcher = Watcher(ctx.client, ctx.out)
    if wait:
        deploy = watcher.follow(deploy)
    if ctx.out.json_mode:
        ctx.out.emit(deploy)
    if not wait:
        ctx.out.line(
            f"follow it with `vmkit deploys show {deploy.id} --watch`; "
            f"cancel it with `vmkit deploys cancel {deploy.id}`"
        )
        return 0
    return watcher.outcome(deploy, what)


def print_plan(ctx: Context, named: resolve.Named, plan: DeployPlan) -> None:
    out = ctx.out
    out.line(f"Plan for {named.label} ({plan.url}):")
    out.table(
        ["ACTION", "WHAT", "DETAIL"],
        [[Text(c.action, style="bold"), c.resource, c.detail] for c in plan.changes],
    )
    cost = (
        f"about ${plan.monthly_cost_usd:.2f} a month for the VM (list price)"
        if plan.monthly_cost_usd
        else "no VM cost (this machine)"
    )
    out.line(f"Cost: {cost}")
    if plan.blocked_by:
        out.warn(f"{plan.blocked_by} is still running on {named.env.name}: a new deploy is refused")


def run_deploys_list(ctx: Context) -> int:
    args = ctx.args
    if not 1 <= args.limit <= 100:
        raise UsageError("--limit must be between 1 and 100")
    env_id = None
    if args.env or args.repo:
        env_id = resolve.environment(ctx.client, args.env, args.repo).env.id
    names = {e.id: e.name for e in ctx.client.list_environments()}
    now = datetime.now(UTC)
    return ctx.out.listing(
        ctx.client.list_deploys(env_id, limit=args.limit),
        ["ID", "ENV", "ACTION", "STATUS", "REF", "STARTED", "TOOK"],
        lambda d: [
            d.id,
            names.get(d.environment_id, d.environment_id),
            d.action.value,
            status_text(d.status.value),
            d.ref,
            ago(d.created_at, now),
            duration(seconds(d.finished_at - d.created_at)) if d.finished_at else "-",
        ],
        "no deploys yet",
    )


def run_deploys_show(ctx: Context) -> int:
    deploy = ctx.client.get_deploy(ctx.args.deploy_id)
    watcher = Watcher(ctx.client, ctx.out)
    if ctx.args.watch:
        ctx.out.line(f"{deploy.action.value} {deploy.id} of {deploy.ref}")
        deploy = watcher.follow(deploy)
    if ctx.out.json_mode:
        ctx.out.emit(deploy)
        return 0
    if not ctx.args.watch:
        ctx.out.line(f"{deploy.action.value} {deploy.id} of {deploy.ref}: {deploy.status.value}")
        for step in deploy.steps:
            ctx.out.line(step_line(step, deploy.created_at))
    return watcher.outcome(deploy, deploy.action.value)


def run_deploys_cancel(ctx: Context) -> int:
    args = ctx.args
    if args.target and args.target.startswith("dep_"):
        deploy_id = args.target
    else:
        named = resolve.environment(ctx.client, args.target, args.repo)
        if not named.env.active_deploy_id:
            raise UsageError(f"nothing is running on {named.label}", hint="nothing to cancel")
        deploy_id = named.env.active_deploy_id
    deploy = ctx.client.cancel_deploy(deploy_id)
    step = deploy.failure.step if deploy.failure else "the start"
    return ctx.out.result(
        deploy,
        f"cancelled {deploy.id} at {step}; what it created stays, and the next deploy reuses it",
    )


def run_destroy(ctx: Context) -> int:
    args = ctx.args
    named = resolve.environment(ctx.client, args.env, args.repo)
    if not args.yes:
        if not prompts.stdin_is_terminal():
            raise UsageError(
                f"destroying {named.label} needs a confirmation",
                hint="run it at a terminal to type the name, or pass --yes",
            )
        if not prompts.confirm_name(f"destroy {named.label} and its VM", named.env.name):
            raise Cancelled("the name did not match; nothing was destroyed")
    teardown = ctx.client.destroy_environment(named.env.id)
    ctx.out.line(f"teardown {teardown.id} started: {named.label}")
    return follow(ctx, teardown, "teardown", wait=not args.no_wait)
