"""`vmkit doctor`: turn what VMKit and the agent report into checks and what to do.

The agent's `diagnose` gathers facts; this decides which are problems, with the
thresholds an operator would use, and says what fixes each one. Old releases that
Kamal stopped after a switch are normal (it keeps them for rollback), so only running
containers are judged, and "no app running" is its own finding.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from vmkit.schemas import DeployPublic, Diagnosis, InstancePublic
from vmkit_cli.output import ago
from vmkit_cli.shapes import Finding

FULL_PCT = 90.0
CLOCK_SKEW_S = 5.0
PROXY = "kamal-proxy"


def check(
    env_name: str,
    instance: InstancePublic | None,
    last_deploy: DeployPublic | None,
    diagnosis: Diagnosis | None,
    agent_error: str | None = None,
) -> list[Finding]:
    findings = [_last_deploy(env_name, last_deploy)] if last_deploy else []
    if instance is None:
        return [
            *findings,
            Finding(
                check="VM",
                ok=False,
                detail=f"{env_name} has no VM yet",
                fix=f"deploy it: `vmkit deploy {env_name}`",
            ),
        ]
    findings.append(Finding(check="VM", ok=True, detail=f"{instance.id} at {instance.ip}"))
    if diagnosis is None:
        seen = ago(instance.last_seen_at, datetime.now(UTC))
        findings.append(
            Finding(
                check="agent",
                ok=False,
                detail=f"the agent is not connected (last seen {seen}): {agent_error or 'offline'}",
                fix="if the VM was just created it is still booting (try again in a minute); "
                f"if it is gone or stopped, `vmkit deploy {env_name}` brings it back",
            )
        )
        return findings
    return findings + _host(env_name, diagnosis)


def _last_deploy(env_name: str, deploy: DeployPublic) -> Finding:
    if deploy.status.value != "failed":
        return Finding(check="last deploy", ok=True, detail=f"{deploy.id} {deploy.status.value}")
    failure = deploy.failure
    where = f" at {failure.step}: {failure.reason}" if failure else ""
    fix = f"read the Actions log ({deploy.run_url})" if deploy.run_url else "fix the cause"
    return Finding(
        check="last deploy",
        ok=False,
        detail=f"{deploy.id} failed{where}",
        fix=f"{fix}, then `vmkit deploy {env_name}` again",
    )


def _host(env_name: str, report: Diagnosis) -> list[Finding]:
    findings = []
    agent = report.agent
    findings.append(
        Finding(check="agent", ok=True, detail=f"connected, version {agent.get('version')}")
    )
    docker = report.docker
    docker_ok = docker.get("status") == "running"
    findings.append(
        Finding(
            check="docker",
            ok=docker_ok,
            detail=f"Docker is {docker.get('status', 'unknown')}"
            + (f": {docker['error']}" if docker.get("error") else ""),
            fix=None
            if docker_ok
            else "restart it on the VM (`systemctl restart docker`), or "
            f"`vmkit deploy {env_name}` to provision again",
        )
    )
    findings += _containers(env_name, report.containers)
    for name, figures in (("disk", report.disk), ("memory", report.memory)):
        pct = figures.get("pct")
        if pct is None:
            continue
        full = pct >= FULL_PCT
        findings.append(
            Finding(
                check=name,
                ok=not full,
                detail=f"{name} {pct:.0f}% used",
                fix=(
                    "remove old images on the VM (`docker image prune`), or move to a bigger "
                    "server type"
                    if name == "disk"
                    else "move to a bigger server type, or look for a leak with `vmkit metrics`"
                )
                if full
                else None,
            )
        )
    skew = report.clock.get("skew_s")
    if isinstance(skew, int | float):
        off = abs(skew) > CLOCK_SKEW_S
        findings.append(
            Finding(
                check="clock",
                ok=not off,
                detail=f"clock off by {skew:+.1f} s",
                fix="turn on time sync on the VM (`timedatectl set-ntp true`)" if off else None,
            )
        )
    # The ring holds warnings too (a reconnect is one): only errors are problems.
    errors = [
        e
        for e in report.recent_errors
        if isinstance(e, dict) and e.get("level") in ("error", "critical")
    ]
    if errors:
        findings.append(
            Finding(
                check="agent errors",
                ok=False,
                detail=f"{len(errors)} recent: {_error_text(errors[-1])}",
                fix=f"see the whole report with `vmkit doctor {env_name} --json`",
            )
        )
    return findings


def _containers(env_name: str, containers: Any) -> list[Finding]:
    if not isinstance(containers, list):
        error = containers.get("error") if isinstance(containers, dict) else "unreadable"
        return [Finding(check="containers", ok=False, detail=f"cannot list them: {error}")]
    running = [c for c in containers if c.get("state") == "running"]
    apps = [c for c in running if not str(c.get("name", "")).startswith(PROXY)]
    findings = []
    if not apps:
        findings.append(
            Finding(
                check="app",
                ok=False,
                detail="no app container is running",
                fix=f"`vmkit deploy {env_name}`; if it fails, its Actions log says why",
            )
        )
    for container in running:
        if container.get("health") == "unhealthy":
            name = container.get("name")
            findings.append(
                Finding(
                    check="app" if container in apps else "proxy",
                    ok=False,
                    detail=f"container {name} is unhealthy",
                    fix=f"read its output: `vmkit logs {env_name} --container {name}`",
                )
            )
    if apps and all(c.get("health") != "unhealthy" for c in running):
        names = ", ".join(str(c.get("name")) for c in apps)
        findings.append(Finding(check="app", ok=True, detail=f"running: {names}"))
    return findings


def _error_text(error: dict[str, Any]) -> str:
    return f"{error.get('ts', '')} {error.get('message', '')}".strip()
