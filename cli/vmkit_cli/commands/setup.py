"""Setting up: compute targets, repos and environments."""

from __future__ import annotations

import argparse
from typing import Any

from vmkit.models import Provider
from vmkit.schemas import (
    ComputeTargetCreate,
    EnvironmentCreate,
    EnvVarInput,
    RepoCreate,
)
from vmkit_cli import prompts, resolve
from vmkit_cli.commands import group, leaf
from vmkit_cli.context import Context
from vmkit_cli.errors import UsageError

TOKENS_WANTED = {p for p in Provider if p is not Provider.local}


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    targets = group(commands, "targets", "where VMs are created: cloud accounts")
    add = leaf(
        targets,
        "add",
        run_targets_add,
        common,
        "add a compute target; its API token is read from a prompt or stdin",
        "Add a cloud account VMKit creates VMs in. The provider's API token is read from a "
        "hidden prompt, or from stdin when piped (`pass show hetzner | vmkit targets add "
        "hetzner`), and stored encrypted; it never goes on the command line.",
    )
    add.add_argument("provider", choices=[p.value for p in Provider], help="the cloud")
    add.add_argument("--name", help="what to call it (default: the provider's name)")
    add.add_argument("--region", help="default region for its VMs (default: the provider's)")
    add.add_argument("--token", help=argparse.SUPPRESS)  # refused with advice
    leaf(targets, "list", run_targets_list, common, "list compute targets")

    repos = group(commands, "repos", "GitHub repos connected through the VMKit GitHub App")
    connect = leaf(repos, "connect", run_repos_connect, common, "connect a GitHub repo")
    connect.add_argument("full_name", metavar="OWNER/NAME")
    connect.add_argument(
        "--installation-id",
        type=int,
        help="the VMKit GitHub App's installation on the repo's owner, if the API asks for it",
    )
    connect.add_argument("--branch", default="main", help="branch to deploy (default: main)")
    leaf(repos, "list", run_repos_list, common, "list connected repos")
    scan = leaf(
        repos, "scan", run_repos_scan, common, "scan a repo: language, port, health check, services"
    )
    scan.add_argument("repo", metavar="OWNER/NAME")

    envs = group(commands, "envs", "environments: production, staging, previews")
    create = leaf(envs, "create", run_envs_create, common, "create an environment of a repo")
    create.add_argument("name", metavar="NAME", help="lowercase, e.g. production or staging")
    create.add_argument("--repo", required=True, metavar="OWNER/NAME")
    create.add_argument(
        "--target", help="compute target name or id (optional when there is only one)"
    )
    create.add_argument("--size", help="server type, e.g. cax11 (default: the smallest)")
    create.add_argument("--region", help="region (default: the target's)")
    create.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a plain env var (repeatable); set secrets with `vmkit env set --secret`",
    )
    listing = leaf(envs, "list", run_envs_list, common, "list environments")
    listing.add_argument("--repo", metavar="OWNER/NAME", help="only this repo's")


# --- targets ------------------------------------------------------------------------------


def run_targets_add(ctx: Context) -> int:
    args = ctx.args
    provider = Provider(args.provider)
    if args.token:
        raise prompts.refuse_in_argv(
            "token", f"pass show {provider.value} | vmkit targets add {provider.value}"
        )
    token = (
        prompts.read_secret(f"{provider.value} API token") if provider in TOKENS_WANTED else None
    )
    target = ctx.client.create_target(
        ComputeTargetCreate(
            name=args.name or provider.value,
            provider=provider,
            token=token,
            default_region=args.region,
        )
    )
    token_part = f", token {target.token_hint}" if target.token_hint else ""
    return ctx.out.result(
        target,
        f"added compute target {target.name} ({target.id}): {target.provider.value}, "
        f"region {target.default_region}{token_part}",
    )


def run_targets_list(ctx: Context) -> int:
    return ctx.out.listing(
        ctx.client.list_targets(),
        ["NAME", "PROVIDER", "REGION", "TOKEN", "ID"],
        lambda t: [t.name, t.provider.value, t.default_region, t.token_hint or "-", t.id],
        "no compute targets yet; add one with `vmkit targets add hetzner`",
    )


# --- repos --------------------------------------------------------------------------------


def run_repos_connect(ctx: Context) -> int:
    args = ctx.args
    repo = ctx.client.connect_repo(
        RepoCreate(
            full_name=args.full_name,
            installation_id=args.installation_id,
            default_branch=args.branch,
        )
    )
    return ctx.out.result(
        repo,
        f"connected {repo.full_name} ({repo.id}), deploying branch {repo.default_branch}",
        f"next: vmkit envs create production --repo {repo.full_name}",
    )


def run_repos_list(ctx: Context) -> int:
    return ctx.out.listing(
        ctx.client.list_repos(),
        ["REPO", "BRANCH", "ONBOARDING", "PULL REQUEST", "ID"],
        lambda r: [
            r.full_name,
            r.default_branch,
            r.onboarding.value,
            r.onboarding_pr_url or "-",
            r.id,
        ],
        "no repos connected yet; connect one with `vmkit repos connect OWNER/NAME`",
    )


def run_repos_scan(ctx: Context) -> int:
    repo = resolve.repo(ctx.client, ctx.args.repo)
    scan = ctx.client.scan_repo(repo.id)
    if ctx.out.json_mode:
        return ctx.out.result(scan)
    framework = f" ({scan.framework})" if scan.framework else ""
    ctx.out.line(
        f"{repo.full_name}: {scan.language}{framework}, port {scan.port}, "
        f"health check {scan.health_path}"
    )
    needs = [f"{v.name}{' (secret)' if v.secret else ''}" for v in scan.env_vars]
    ctx.out.fields(
        [
            ("app folder", scan.app_path),
            ("services", ", ".join(s.name for s in scan.services) or "none"),
            ("env vars it reads", ", ".join(needs) or "none found"),
            ("builds with", "buildpacks" if scan.buildpacks.buildable else "a Dockerfile"),
        ]
    )
    for warning in scan.warnings:
        ctx.out.line(f"warning: {warning}", style="yellow")
    return 0


# --- environments -------------------------------------------------------------------------


def run_envs_create(ctx: Context) -> int:
    args = ctx.args
    repo = resolve.repo(ctx.client, args.repo)
    target = resolve.target(ctx.client, args.target)
    fields: dict[str, Any] = {"repo_id": repo.id, "name": args.name, "compute_target_id": target.id}
    if args.size:
        fields["server_type"] = args.size
    if args.region:
        fields["region"] = args.region
    fields["env_vars"] = [EnvVarInput(name=k, value=v) for k, v in parse_assignments(args.var)]
    env = ctx.client.create_environment(EnvironmentCreate(**fields))
    return ctx.out.result(
        env,
        f"created {env.name} of {repo.full_name} ({env.id}): {env.server_type} in {env.region} "
        f"on {target.name}; it will answer at {env.url}",
        f"next: vmkit deploy {env.name} --repo {repo.full_name}",
    )


def run_envs_list(ctx: Context) -> int:
    names = {r.id: r.full_name for r in ctx.client.list_repos()}
    repo_id = resolve.repo(ctx.client, ctx.args.repo).id if ctx.args.repo else None
    return ctx.out.listing(
        ctx.client.list_environments(repo_id),
        ["NAME", "REPO", "SIZE", "REGION", "URL", "DEPLOYING", "ID"],
        lambda e: [
            e.name,
            names.get(e.repo_id, e.repo_id),
            e.server_type,
            e.region,
            e.url,
            e.active_deploy_id or "-",
            e.id,
        ],
        "no environments yet; create one with `vmkit envs create NAME --repo OWNER/NAME`",
    )


def parse_assignments(values: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        name, equals, rest = value.partition("=")
        if not equals or not name:
            # Not echoed: it may be a secret typed in the wrong place.
            raise UsageError(
                "expected KEY=VALUE, got an argument without '='", hint="e.g. PORT=8080"
            )
        pairs.append((name, rest))
    return pairs
