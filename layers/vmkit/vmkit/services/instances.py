"""VMs, one per environment, and what their agents last reported."""

from __future__ import annotations

from dataclasses import asdict

from vmkit import agentrpc
from vmkit.auth import Principal
from vmkit.deps import Deps
from vmkit.errors import NotFound
from vmkit.models import ComputeTarget, Environment, Instance, Scope, utcnow
from vmkit.schemas import AgentUpgrade, Diagnosis, HardenResult, LogLine, Metrics
from vmkit.services import audit, environments
from vmkit.store import Page


def list_instances(
    deps: Deps, principal: Principal, *, limit: int = 50, cursor: str | None = None
) -> Page[Instance]:
    principal.require(Scope.read)
    page = deps.store.list(Instance, principal.workspace_id, limit=limit, cursor=cursor)
    return page.keep(lambda i: principal.may_see(i.environment_id))


def get_instance(deps: Deps, principal: Principal, instance_id: str) -> Instance:
    principal.require(Scope.read)
    instance = deps.store.get(Instance, principal.workspace_id, instance_id)
    principal.require_environment(instance.environment_id)
    return instance


def instance_of_environment(deps: Deps, principal: Principal, environment_id: str) -> str:
    """The id of an environment's VM, for callers that name the environment (MCP tools)."""
    principal.require(Scope.read)
    principal.require_environment(environment_id)
    env = deps.store.get(Environment, principal.workspace_id, environment_id)
    if not env.instance_id:
        raise NotFound(
            f"environment {env.name} ({env.id}) has no VM yet; deploy it first",
            code="no_instance",
        )
    return env.instance_id


# --- operations through the agent --------------------------------------------------------
# Each is one call over the agent's WebSocket, answered within API Gateway's 29 s.

CALL_TIMEOUT_S = 25.0


def _live(deps: Deps, principal: Principal, instance_id: str, scope: Scope) -> Instance:
    principal.require(scope)
    return get_instance(deps, principal, instance_id)


def fetch_logs(
    deps: Deps, principal: Principal, instance_id: str, *, container: str, lines: int = 100
) -> list[LogLine]:
    instance = _live(deps, principal, instance_id, Scope.read)
    result = agentrpc.call(
        deps,
        instance,
        "logs_fetch",
        {"container": container, "lines": lines},
        timeout_s=CALL_TIMEOUT_S,
    )
    return [LogLine.model_validate(line) for line in result.get("lines", [])]


def collect_metrics(deps: Deps, principal: Principal, instance_id: str) -> Metrics:
    """Fresh metrics from the agent (heartbeats push them every few minutes anyway)."""
    instance = _live(deps, principal, instance_id, Scope.read)
    metrics = agentrpc.call(deps, instance, "metrics_collect", {}, timeout_s=CALL_TIMEOUT_S)
    now = utcnow()
    deps.store.set_fields(
        instance,
        metrics=metrics,
        metrics_at=now,
        metrics_history=instance.history_with(metrics, now),
    )
    return Metrics.model_validate(metrics)


def diagnose(deps: Deps, principal: Principal, instance_id: str) -> Diagnosis:
    instance = _live(deps, principal, instance_id, Scope.read)
    report = agentrpc.call(deps, instance, "diagnose", {}, timeout_s=CALL_TIMEOUT_S)
    return Diagnosis.model_validate(report)


def harden(deps: Deps, principal: Principal, instance_id: str) -> HardenResult:
    """Harden again (idempotent): repairs drift such as a re-enabled password login."""
    instance = _live(deps, principal, instance_id, Scope.deploy)
    target = deps.store.get(ComputeTarget, instance.workspace_id, instance.compute_target_id)
    env = deps.store.get(Environment, instance.workspace_id, instance.environment_id)
    result = HardenResult.model_validate(
        agentrpc.call(
            deps,
            instance,
            "harden",
            environments.harden_params(deps, env, target),
            timeout_s=CALL_TIMEOUT_S,
        )
    )
    audit.record(
        deps, principal, "instance.harden", "instance", instance.id, changes=result.changes
    )
    return result


def upgrade_agent(deps: Deps, principal: Principal, instance_id: str) -> AgentUpgrade:
    """Ask the agent to install the published build (sha256-verified) and come back on it."""
    instance = _live(deps, principal, instance_id, Scope.deploy)
    published = deps.artifacts.published()
    if published.version == instance.agent_version:
        return AgentUpgrade(status="current", version=published.version)
    agentrpc.call(deps, instance, "agent_upgrade", asdict(published), timeout_s=CALL_TIMEOUT_S)
    audit.record(
        deps,
        principal,
        "instance.upgrade_agent",
        "instance",
        instance.id,
        from_version=instance.agent_version,
        to_version=published.version,
    )
    return AgentUpgrade(status="upgrading", version=published.version)
