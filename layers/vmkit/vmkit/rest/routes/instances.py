from typing import Annotated

from fastapi import APIRouter, Query

from vmkit.rest.deps import Cursor, DepsDep, InstanceIdPath, Limit, PrincipalDep
from vmkit.schemas import (
    CONTAINER_NAME_CONSTRAINTS,
    LOG_LINES_CONSTRAINTS,
    AgentUpgrade,
    Diagnosis,
    HardenResult,
    InstancePublic,
    ListOf,
    LogLines,
    Metrics,
)
from vmkit.services import instances

router = APIRouter(prefix="/api/instances", tags=["instances"])


@router.get("", name="list_instances")
def list_instances(
    deps: DepsDep, principal: PrincipalDep, limit: Limit = 50, cursor: Cursor = None
) -> ListOf[InstancePublic]:
    page = instances.list_instances(deps, principal, limit=limit, cursor=cursor)
    return ListOf[InstancePublic].of(page.map(InstancePublic.from_record))


@router.get("/{instance_id}", name="get_instance")
def get_instance(
    deps: DepsDep, principal: PrincipalDep, instance_id: InstanceIdPath
) -> InstancePublic:
    return InstancePublic.from_record(instances.get_instance(deps, principal, instance_id))


@router.get("/{instance_id}/logs", name="get_logs")
def get_logs(
    deps: DepsDep,
    principal: PrincipalDep,
    instance_id: InstanceIdPath,
    container: Annotated[str, Query(**CONTAINER_NAME_CONSTRAINTS)],
    lines: Annotated[int, Query(**LOG_LINES_CONSTRAINTS)] = 100,
) -> LogLines:
    """The latest lines of a container's output, read by the agent on the VM."""
    return LogLines(
        lines=instances.fetch_logs(deps, principal, instance_id, container=container, lines=lines)
    )


@router.post("/{instance_id}/metrics", name="collect_metrics")
def collect_metrics(deps: DepsDep, principal: PrincipalDep, instance_id: InstanceIdPath) -> Metrics:
    """Fresh CPU, memory, disk and container health from the agent."""
    return instances.collect_metrics(deps, principal, instance_id)


@router.post("/{instance_id}/diagnose", name="diagnose")
def diagnose(deps: DepsDep, principal: PrincipalDep, instance_id: InstanceIdPath) -> Diagnosis:
    """What an operator would check first: agent, Docker, disk, memory, containers, clock, latency."""
    return instances.diagnose(deps, principal, instance_id)


@router.post("/{instance_id}/harden", name="harden_instance")
def harden_instance(
    deps: DepsDep, principal: PrincipalDep, instance_id: InstanceIdPath
) -> HardenResult:
    """Apply VMKit's hardening again (idempotent): kamal user, deploy key, sshd, firewall."""
    return instances.harden(deps, principal, instance_id)


@router.post("/{instance_id}/upgrade-agent", name="upgrade_agent")
def upgrade_agent(
    deps: DepsDep, principal: PrincipalDep, instance_id: InstanceIdPath
) -> AgentUpgrade:
    """Install the published agent build; the agent restarts and re-registers with its new version."""
    return instances.upgrade_agent(deps, principal, instance_id)
