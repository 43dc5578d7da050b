"""Running apps: logs, metrics, diagnosis, hardening and agent upgrades, through the VM's agent.

Tools take an environment id, the handle an agent already has, rather than the id of
the VM behind it: each environment has at most one VM, recorded on the environment by
its first deploy.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from vmkit.mcp.tools.common import CHANGES, READS, REPEATABLE_CHANGES, Caller, ToolSpec, caller
from vmkit.schemas import (
    AgentUpgrade,
    ContainerName,
    CredentialName,
    DeployPublic,
    Diagnosis,
    EnvironmentId,
    HardenResult,
    LogLineCount,
    LogLines,
    Metrics,
    Output,
    ResizePlan,
    RotationResult,
    ServerTypeName,
)
from vmkit.services import instances, rotation
from vmkit.services import resize as resize_service


def _instance_id(c: Caller, environment_id: str) -> str:
    return instances.instance_of_environment(c.deps, c.principal, environment_id)


def get_logs(
    environment_id: EnvironmentId, container: ContainerName, lines: LogLineCount = 100
) -> LogLines:
    """The latest output lines of one container on the environment's VM, oldest first.

    Use it when a deploy failed at or after the Kamal step, when the app answers
    with errors, or when diagnose shows a container unhealthy. Each line has its
    timestamp (ts) and text. Container names come from get_metrics
    (container_health) or diagnose (containers). Needs the VM's agent to be
    connected.
    """
    c = caller()
    lines_read = instances.fetch_logs(
        c.deps, c.principal, _instance_id(c, environment_id), container=container, lines=lines
    )
    return LogLines(lines=lines_read)


def get_metrics(environment_id: EnvironmentId) -> Metrics:
    """Fresh resource use of the environment's VM, measured now by its agent.

    Returns cpu_pct, mem_pct, disk_pct, container_count, container_health (each
    container's name and healthy, unhealthy, starting or none) and collected_at.
    Use it to check that a deploy's containers came up healthy, or whether the VM
    is too small (memory or CPU near 100%: a bigger server_type helps). Needs the
    VM's agent to be connected.
    """
    c = caller()
    return instances.collect_metrics(c.deps, c.principal, _instance_id(c, environment_id))


def diagnose(environment_id: EnvironmentId) -> Diagnosis:
    """Everything an operator checks first on a misbehaving VM, in one call.

    Reports the agent (version, uptime, recent errors), Docker's status, every
    container with its state and health, disk and memory, clock skew, and the
    latency to VMKit. Use it when a deploy fails after the VM exists, when the app
    is down, or before get_logs to find the container to read. Needs the VM's agent
    to be connected; if it is not, the VM may still be booting (retry in a minute)
    or be gone (deploy again).
    """
    c = caller()
    return instances.diagnose(c.deps, c.principal, _instance_id(c, environment_id))


def harden_vm(environment_id: EnvironmentId) -> HardenResult:
    """Apply VMKit's hardening to the environment's VM again.

    Ensures the kamal user with the deploy key, sshd with no root login and no
    passwords, and a firewall open only to 80 and 443 (and SSH for deploys). Every
    deploy does this already; call it when diagnose suggests drift or the user
    asks. Safe to repeat: changes lists only what this run had to fix (empty means
    nothing had drifted). Needs the deploy scope and a connected agent.
    """
    c = caller()
    return instances.harden(c.deps, c.principal, _instance_id(c, environment_id))


def upgrade_agent(environment_id: EnvironmentId) -> AgentUpgrade:
    """Upgrade the VMKit agent on the environment's VM to the published version.

    The agent downloads the new build, checks its sha256, replaces itself and
    reconnects within about a minute. status current means it already runs the
    published version; upgrading means it is restarting: check with diagnose after
    a minute that agent.version is the new one. The app keeps running throughout.
    Needs the deploy scope and a connected agent.
    """
    c = caller()
    return instances.upgrade_agent(c.deps, c.principal, _instance_id(c, environment_id))


def rotate_credentials(environment_id: EnvironmentId, credential: CredentialName) -> RotationResult:
    """Replace an environment's deploy key or its VM's agent token.

    Use it on a schedule, when someone who saw a credential leaves, or when a key may
    have leaked (a log, a copied secret). deploy_key makes a new ed25519 key: the VM
    accepts it beside the old one, the GitHub Actions secret is replaced, then the VM
    drops the old key. agent_token hands the agent a new token; once it reconnects
    with it the old one is refused. Nothing is locked out if a step fails: call it
    again to finish (a deploy key rotation resumes with the same new key). Deploys
    keep working during a rotation. Needs the admin scope and a connected agent.
    """
    c = caller()
    return rotation.rotate(c.deps, c.principal, environment_id, credential)


class ResizeResult(Output):
    """Either the resize that was started, or (for a dry run) the plan and price change."""

    dry_run: bool
    deploy: DeployPublic | None = Field(
        default=None, description="The resize, which runs like a deploy; null for a dry run."
    )
    plan: ResizePlan | None = Field(
        default=None, description="Sizes, monthly prices and the change; only for a dry run."
    )


def resize(
    environment_id: EnvironmentId,
    server_type: Annotated[
        ServerTypeName,
        Field(description="The new VM size, from the target provider's catalog (e.g. cax21)."),
    ],
    dry_run: Annotated[
        bool, Field(description="true: change nothing; return the sizes and the price change.")
    ] = False,
) -> ResizeResult:
    """Give the environment's VM another size (more CPU and memory, or less).

    Use it when get_metrics shows memory or CPU near 100% (a bigger size), or the VM
    is mostly idle (a smaller one). Call it with dry_run: true first and show the user
    the monthly price change. The VM is stopped, resized by the provider and started
    again (the app is down for a minute or two); the disk keeps its size, so going
    back down later works. A size the provider would refuse (another architecture, a
    smaller disk than the VM's, another provider's) is refused before anything stops.
    It runs like a deploy: follow it with get_deploy until succeeded; the agent
    reconnects and list_environments shows the new size. Needs the admin scope (a dry
    run needs read).
    """
    c = caller()
    if dry_run:
        return ResizeResult(
            dry_run=True,
            plan=resize_service.plan_resize(c.deps, c.principal, environment_id, server_type),
        )
    started = resize_service.start_resize(c.deps, c.principal, environment_id, server_type)
    return ResizeResult(dry_run=False, deploy=DeployPublic.model_validate(started))


TOOLS = [
    ToolSpec(get_logs, READS),
    ToolSpec(get_metrics, READS),
    ToolSpec(diagnose, READS),
    ToolSpec(harden_vm, REPEATABLE_CHANGES),
    ToolSpec(upgrade_agent, REPEATABLE_CHANGES),
    ToolSpec(rotate_credentials, CHANGES),
    ToolSpec(resize, CHANGES),
]
