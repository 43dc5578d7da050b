"""VMs, one per environment, and what their agents last reported."""

from __future__ import annotations

from typing import Any

from vmkit import agentrpc
from vmkit.auth import Principal
from vmkit.deps import Deps
from vmkit.models import ComputeTarget, Instance, Scope, utcnow
from vmkit.services import audit
from vmkit.store import Page


def list_instances(
    deps: Deps, principal: Principal, *, limit: int = 50, cursor: str | None = None
) -> Page[Instance]:
    principal.require(Scope.read)
    page = deps.store.list(Instance, principal.workspace_id, limit=limit, cursor=cursor)
    if principal.environment_ids:
        page.items = [i for i in page.items if i.environment_id in principal.environment_ids]
    return page


def get_instance(deps: Deps, principal: Principal, instance_id: str) -> Instance:
    principal.require(Scope.read)
    instance = deps.store.get(Instance, principal.workspace_id, instance_id)
    principal.require_environment(instance.environment_id)
    return instance


# --- operations through the agent --------------------------------------------------------
# Each is one call over the agent's WebSocket, answered within API Gateway's 29 s.

CALL_TIMEOUT_S = 25.0


def _live(deps: Deps, principal: Principal, instance_id: str, scope: Scope) -> Instance:
    principal.require(scope)
    return get_instance(deps, principal, instance_id)


def fetch_logs(
    deps: Deps, principal: Principal, instance_id: str, *, container: str, lines: int = 100
) -> list[dict]:
    instance = _live(deps, principal, instance_id, Scope.read)
    result = agentrpc.call(
        deps,
        instance,
        "logs_fetch",
        {"container": container, "lines": lines},
        timeout_s=CALL_TIMEOUT_S,
    )
    return result.get("lines", [])


def collect_metrics(deps: Deps, principal: Principal, instance_id: str) -> dict[str, Any]:
    """Fresh metrics from the agent (heartbeats push them every few minutes anyway)."""
    instance = _live(deps, principal, instance_id, Scope.read)
    metrics = agentrpc.call(deps, instance, "metrics_collect", {}, timeout_s=CALL_TIMEOUT_S)
    deps.store.set_fields(instance, metrics=metrics, metrics_at=utcnow().isoformat())
    return metrics


def diagnose(deps: Deps, principal: Principal, instance_id: str) -> dict[str, Any]:
    instance = _live(deps, principal, instance_id, Scope.read)
    return agentrpc.call(deps, instance, "diagnose", {}, timeout_s=CALL_TIMEOUT_S)


def harden(deps: Deps, principal: Principal, instance_id: str) -> dict[str, Any]:
    """Harden again (idempotent): repairs drift such as a re-enabled password login."""
    instance = _live(deps, principal, instance_id, Scope.deploy)
    target = deps.store.get(ComputeTarget, instance.workspace_id, instance.compute_target_id)
    result = agentrpc.call(
        deps,
        instance,
        "harden",
        {"deploy_public_key": target.deploy_public_key},
        timeout_s=CALL_TIMEOUT_S,
    )
    audit.record(
        deps,
        principal,
        "instance.harden",
        "instance",
        instance.id,
        changes=result.get("changes", []),
    )
    return result


def upgrade_agent(deps: Deps, principal: Principal, instance_id: str) -> dict[str, Any]:
    """Ask the agent to install the published build (sha256-verified) and come back on it."""
    instance = _live(deps, principal, instance_id, Scope.deploy)
    published = published_agent(deps)
    if published["version"] == instance.agent_version:
        return {"status": "current", "version": published["version"]}
    result = agentrpc.call(deps, instance, "agent_upgrade", published, timeout_s=CALL_TIMEOUT_S)
    audit.record(
        deps,
        principal,
        "instance.upgrade_agent",
        "instance",
        instance.id,
        from_version=instance.agent_version,
        to_version=published["version"],
    )
    return {**result, "version": published["version"]}


AGENT_KEY = "vmkit-agent.pyz"


def publish_agent(
    s3: Any, bucket: str, artifact: bytes, *, sha256: str, version: str, key: str = AGENT_KEY
) -> None:
    """Upload an agent build with the metadata `published_agent` reads back (operators,
    the local stack and tests all publish through here)."""
    s3.put_object(
        Bucket=bucket, Key=key, Body=artifact, Metadata={"sha256": sha256, "version": version}
    )


def published_agent(deps: Deps) -> dict[str, str]:
    """The agent build in the artifacts bucket: a short-lived download URL and its checksum."""
    s = deps.settings
    s3 = deps.client("s3")
    head = s3.head_object(Bucket=s.agent_bucket, Key=s.agent_key)
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": s.agent_bucket, "Key": s.agent_key}, ExpiresIn=3600
    )
    return {
        "version": head["Metadata"].get("version", ""),
        "download_url": url,
        "checksum_sha256": head["Metadata"]["sha256"],
    }
