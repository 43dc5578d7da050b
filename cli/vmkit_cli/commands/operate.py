"""Running apps: status, logs, metrics, doctor, and an environment's variables."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime

from rich.text import Text

from vmkit.schemas import EnvVarInput, EnvVarsUpdate, InstancePublic, LogLine, LogLines
from vmkit_cli import doctor, prompts, resolve
from vmkit_cli.client import ApiError, VMKitClient
from vmkit_cli.commands import environment_arguments, group, leaf
from vmkit_cli.commands.setup import parse_assignments
from vmkit_cli.context import Context
from vmkit_cli.errors import CliError, UsageError
from vmkit_cli.output import Output, ago, duration, status_text
from vmkit_cli.shapes import Doctor, Status
from vmkit_cli.watch import seconds

FOLLOW_POLL_S = 2.0
FOLLOW_WINDOW = 200  # lines fetched per poll while following
RECHECK_CONTAINER_EVERY = 5  # polls between looks for a newer release's container
MAX_LINES = 5000


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    status = leaf(
        commands, "status", run_status, common, "an environment: its VM, agent and last deploy"
    )
    environment_arguments(status)

    logs = leaf(
        commands,
        "logs",
        run_logs,
        common,
        "the app's output on its VM",
        "Print the latest lines the app's container wrote, read by the agent on the VM. "
        "With -f, keep polling and print new lines as they come, until Ctrl-C.",
    )
    environment_arguments(logs)
    logs.add_argument("-n", "--lines", type=int, default=100, help="how many (default: 100)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("--container", help="which container (default: the app's)")

    metrics = leaf(
        commands, "metrics", run_metrics, common, "CPU, memory, disk and containers, now"
    )
    environment_arguments(metrics)

    checkup = leaf(
        commands,
        "doctor",
        run_doctor,
        common,
        "check an environment's VM and say what to fix",
        "Ask the VM's agent for a diagnosis and check it: the agent, Docker, the app's "
        "containers, disk, memory, the clock, the last deploy. Exit code 0 when all is "
        "well, 1 when something needs fixing.",
    )
    environment_arguments(checkup)

    env = group(commands, "env", "an environment's variables and secrets")
    listing = leaf(env, "list", run_env_list, common, "list variables (secrets masked)")
    environment_arguments(listing, positional=False)
    setter = leaf(
        env,
        "set",
        run_env_set,
        common,
        "set variables; a secret's value is read from a prompt or stdin",
        "Set plain variables as KEY=VALUE, or one secret with --secret KEY, whose value is "
        "read from a hidden prompt or from stdin (`vmkit env set --secret DB_URL < url.txt`). "
        "Values take effect on the next deploy.",
    )
    setter.add_argument("assignments", nargs="*", metavar="KEY=VALUE")
    setter.add_argument("--secret", metavar="KEY", help="set this secret (value from prompt/stdin)")
    environment_arguments(setter, positional=False)
    unsetter = leaf(env, "unset", run_env_unset, common, "remove variables")
    unsetter.add_argument("names", nargs="+", metavar="KEY")
    environment_arguments(unsetter, positional=False)


# --- status ---------------------------------------------------------------------------------


def _instance(client: VMKitClient, named: resolve.Named) -> InstancePublic | None:
    return client.get_instance(named.env.instance_id) if named.env.instance_id else None


def _require_instance(client: VMKitClient, named: resolve.Named) -> InstancePublic:
    instance = _instance(client, named)
    if instance is None:
        raise CliError(
            f"{named.label} has no VM yet",
            hint=f"deploy it first: `vmkit deploy {named.env.name} --repo {named.repo.full_name}`",
            code="no_instance",
        )
    return instance


def run_status(ctx: Context) -> int:
    client = ctx.client
    named = resolve.environment(client, ctx.args.env, ctx.args.repo)
    instance = _instance(client, named)
    recent = client.list_deploys(named.env.id, limit=1)
    status = Status(
        environment=named.env,
        repo=named.repo,
        instance=instance,
        last_deploy=recent[0] if recent else None,
    )
    if ctx.out.json_mode:
        ctx.out.emit(status)
        return 0
    print_status(ctx.out, status)
    return 0


def print_status(out: Output, status: Status) -> None:
    env, instance, last = status.environment, status.instance, status.last_deploy
    now = datetime.now(UTC)
    out.line(Text.assemble((f"{env.name} of {status.repo.full_name}", "bold"), f"  {env.url}"))
    rows: list[tuple[str, str | Text | None]] = [
        ("size", f"{env.server_type} in {env.region}"),
        ("env vars", ", ".join(v.name for v in env.env_vars) or "none"),
    ]
    if instance is None:
        rows.append(("VM", "none yet (the first deploy creates it)"))
    else:
        rows.append(
            ("VM", f"{instance.id}  {instance.ip or 'no address yet'}  {instance.status.value}")
        )
        agent = (
            Text.assemble(("connected", "green"), f", version {instance.agent_version}")
            if instance.agent_connected
            else Text.assemble(
                ("not connected", "red"), f", last seen {ago(instance.last_seen_at, now)}"
            )
        )
        rows.append(("agent", agent))
        rows.append(("hardened", ago(instance.hardened_at, now)))
        rows.append(("metrics", _metrics_summary(instance)))
    if last is not None:
        took = (
            f" in {duration(seconds(last.finished_at - last.created_at))}"
            if last.finished_at
            else ""
        )
        sha = f" ({last.commit_sha[:7]})" if last.commit_sha else ""
        rows.append(
            (
                "last deploy",
                Text.assemble(
                    f"{last.id} ",
                    status_text(last.status.value),
                    f"{took}, {ago(last.created_at, now)}, {last.ref}{sha}",
                ),
            )
        )
        if last.failure:
            rows.append(("failure", f"{last.failure.step}: {last.failure.reason}"))
    out.fields(rows)


def _metrics_summary(instance: InstancePublic) -> str:
    m = instance.metrics
    if not m:
        return "none yet"
    stale = " (stale)" if instance.metrics_stale else ""
    count = "?" if m.container_count is None else m.container_count
    return (
        f"cpu {_pct(m.cpu_pct)}  memory {_pct(m.mem_pct)}  disk {_pct(m.disk_pct)}  "
        f"containers {count}{stale}"
    )


def _pct(value: float | None) -> str:
    return "?" if value is None else f"{value:.0f}%"


# --- logs ---------------------------------------------------------------------------------


def app_container(container_health: dict[str, str]) -> str:
    """The app's container, as Kamal names it (`{service}-web-{version}`)."""
    names = sorted(container_health)
    apps = [n for n in names if not n.startswith(doctor.PROXY)]
    web = [n for n in apps if "-web-" in n] or apps
    if len(web) == 1:
        return web[0]
    if not web:
        raise CliError(
            "no app container is running on the VM"
            + (f" (running: {', '.join(names)})" if names else ""),
            hint="see why with `vmkit doctor`",
        )
    raise UsageError(
        f"several containers could be the app: {', '.join(web)}", hint="pick one with --container"
    )


def run_logs(ctx: Context) -> int:
    args = ctx.args
    if not 1 <= args.lines <= MAX_LINES:
        raise UsageError(f"--lines must be between 1 and {MAX_LINES}")
    client = ctx.client
    named = resolve.environment(client, args.env, args.repo)
    instance = _require_instance(client, named)
    container = args.container or app_container(client.metrics(instance.id).container_health)
    batch = client.logs(instance.id, container, args.lines).lines
    if ctx.out.json_mode and not args.follow:
        ctx.out.emit(LogLines(lines=batch))
        return 0
    _print_lines(ctx.out, batch)
    if not args.follow:
        return 0
    follow_logs(
        client,
        ctx.out,
        instance.id,
        container,
        max(args.lines, FOLLOW_WINDOW),
        seen=batch,
        pinned=bool(args.container),
    )
    return 0  # Ctrl-C is how following ends


def follow_logs(
    client: VMKitClient,
    out: Output,
    instance_id: str,
    container: str,
    window: int,
    *,
    seen: list[LogLine],
    pinned: bool,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Poll the latest `window` lines and print the new ones, until Ctrl-C.

    Unless the container was named (`pinned`), look now and then for a newer release's
    container: a deploy starts the app anew in one, and following the old one would
    go quiet.
    """
    polls = 0
    try:
        while True:
            sleep(FOLLOW_POLL_S)
            polls += 1
            if not pinned and polls % RECHECK_CONTAINER_EVERY == 0:
                try:
                    now_running = app_container(client.metrics(instance_id).container_health)
                except CliError:  # two releases during a switch, or the agent away: stay
                    now_running = container
                if now_running != container:
                    out.line(f"— a new release: now following {now_running}", style="dim")
                    container, seen = now_running, []
            latest = client.logs(instance_id, container, window).lines
            fresh, gap = new_lines(seen, latest)
            if gap:
                out.warn("… (more lines came than one poll reads; some were skipped)")
            _print_lines(out, fresh)
            seen = latest
    except KeyboardInterrupt:
        return


def new_lines(seen: list[LogLine], latest: list[LogLine]) -> tuple[list[LogLine], bool]:
    """The lines of `latest` after the last one already printed, and whether some may
    be missing (`latest` does not reach back to what was printed).

    Both are windows onto the same growing output, maybe of different sizes: find
    where the end of `seen` stands in `latest`, latest first, matching as many of the
    lines before it as both have so that a repeated line is not mistaken for it.
    """
    if not seen:
        return latest, False
    for end in range(len(latest) - 1, -1, -1):
        run = min(len(seen), end + 1)
        if latest[end + 1 - run : end + 1] == seen[len(seen) - run :]:
            return latest[end + 1 :], False
    return latest, bool(latest)


def _print_lines(out: Output, lines: list[LogLine]) -> None:
    for line in lines:
        if out.json_mode:
            out.emit_line(line)
        else:
            out.line(Text.assemble((line.ts, "dim"), f"  {line.text}"))


# --- metrics and doctor ---------------------------------------------------------------------


def run_metrics(ctx: Context) -> int:
    client = ctx.client
    named = resolve.environment(client, ctx.args.env, ctx.args.repo)
    figures = client.metrics(_require_instance(client, named).id)
    if ctx.out.json_mode:
        return ctx.out.result(figures)
    ctx.out.fields(
        [
            ("cpu", _pct(figures.cpu_pct)),
            ("memory", _pct(figures.mem_pct)),
            ("disk", _pct(figures.disk_pct)),
            ("collected", figures.collected_at),
        ]
    )
    ctx.out.table(
        ["CONTAINER", "HEALTH"],
        [[name, status_text(state)] for name, state in sorted(figures.container_health.items())],
    )
    for error in figures.errors:
        ctx.out.line(f"could not read {error}", style="yellow")
    return 0


def run_doctor(ctx: Context) -> int:
    client = ctx.client
    named = resolve.environment(client, ctx.args.env, ctx.args.repo)
    instance = _instance(client, named)
    recent = client.list_deploys(named.env.id, limit=1)
    diagnosis, agent_error = None, None
    if instance is not None and instance.agent_connected:
        try:
            diagnosis = client.diagnose(instance.id)
        except ApiError as exc:
            if exc.status < 500 and exc.code != "agent_unavailable":
                raise
            agent_error = exc.message
    findings = doctor.check(
        named.env.name, instance, recent[0] if recent else None, diagnosis, agent_error
    )
    report = Doctor(
        environment_id=named.env.id,
        instance_id=instance.id if instance else None,
        healthy=all(f.ok for f in findings),
        findings=findings,
        diagnosis=diagnosis,
    )
    if ctx.out.json_mode:
        ctx.out.emit(report)
    else:
        ctx.out.line(Text(f"{named.label}:", style="bold"))
        for finding in findings:
            mark = Text("  ok  ", style="green") if finding.ok else Text("  !!  ", style="red bold")
            ctx.out.line(Text.assemble(mark, (f"{finding.check:<13}", "bold"), finding.detail))
            if finding.fix:
                ctx.out.line(Text(f"{'':6}{'':13}fix: {finding.fix}", style="yellow"))
        if report.healthy:
            ctx.out.line("all checks passed", style="green")
    return 0 if report.healthy else 1


# --- env vars -------------------------------------------------------------------------------


def run_env_list(ctx: Context) -> int:
    named = resolve.environment(ctx.client, ctx.args.env, ctx.args.repo)
    return ctx.out.listing(
        named.env.env_vars,
        ["NAME", "VALUE", "SECRET"],
        lambda v: [v.name, v.value, "yes" if v.secret else ""],
        f"no variables on {named.label}",
    )


def run_env_set(ctx: Context) -> int:
    args = ctx.args
    if args.secret and "=" in args.secret:
        name = args.secret.partition("=")[0]
        raise prompts.refuse_in_argv("secret's value", f"vmkit env set --secret {name} < value.txt")
    if not args.assignments and not args.secret:
        raise UsageError("nothing to set", hint="give KEY=VALUE, or --secret KEY")
    plain = parse_assignments(args.assignments)
    named = resolve.environment(ctx.client, args.env, args.repo)
    _warn_secret_looking(ctx.out, [name for name, _ in plain])
    values = [EnvVarInput(name=name, value=value) for name, value in plain]
    if args.secret:
        value = prompts.read_secret(f"value of {args.secret}", strip=False)
        values.append(EnvVarInput(name=args.secret, value=value, secret=True))
    env = ctx.client.set_env_vars(named.env.id, EnvVarsUpdate(set=values))
    return ctx.out.result(
        env,
        f"set {', '.join(v.name for v in values)} on {named.label}; "
        f"the next deploy uses them (`vmkit deploy {env.name}`)",
    )


def run_env_unset(ctx: Context) -> int:
    named = resolve.environment(ctx.client, ctx.args.env, ctx.args.repo)
    known = {v.name for v in named.env.env_vars}
    missing = [n for n in ctx.args.names if n not in known]
    if missing:
        raise UsageError(
            f"{', '.join(missing)} not set on {named.label}", hint="see them with `vmkit env list`"
        )
    env = ctx.client.set_env_vars(named.env.id, EnvVarsUpdate(unset=ctx.args.names))
    return ctx.out.result(
        env, f"removed {', '.join(ctx.args.names)} from {named.label}; the next deploy drops them"
    )


def _warn_secret_looking(out: Output, names: list[str]) -> None:
    from vmkit.ai.signals import is_secret_name

    for name in names:
        if is_secret_name(name):
            out.warn(
                f"{name} looks like a secret: `vmkit env set --secret {name}` stores it encrypted, "
                "shows it masked, and keeps it out of your shell history"
            )
