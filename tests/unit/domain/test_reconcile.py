"""The sweeper: what no event reports (overdue deploys, silent agents) is noticed."""

from __future__ import annotations

from datetime import timedelta

from tests.support.api import make_world, seed_runtime
from vmkit.models import Deploy, DeployStatus, Environment, Instance, StepRecord, utcnow
from vmkit.services import reconcile


def test_an_overdue_deploy_is_failed_with_the_step_it_was_stuck_at_and_frees_its_environment(
    tenant, deps
):
    world = make_world(tenant)
    _, deploy_id = seed_runtime(deps, tenant.workspace_id, world)
    deploy = deps.store.get(Deploy, tenant.workspace_id, deploy_id)
    deploy.transition(DeployStatus.running)
    deploy.steps.append(StepRecord(name="WaitForAgent", status="waiting"))
    deploy.deadline_at = utcnow() - timedelta(minutes=1)
    deps.store.save(deploy)
    env = deps.store.get(Environment, tenant.workspace_id, world.environment_id)
    env.active_deploy_id = deploy_id
    deps.store.save(env)

    result = reconcile.sweep(deps)

    assert result["overdue_deploys"] == [deploy_id]
    failed = deps.store.get(Deploy, tenant.workspace_id, deploy_id)
    assert failed.status is DeployStatus.failed and failed.failure.step == "WaitForAgent"
    assert "deadline" in failed.failure.reason
    assert (
        deps.store.get(Environment, tenant.workspace_id, world.environment_id).active_deploy_id
        is None
    )
    assert reconcile.sweep(deps)["overdue_deploys"] == []  # a failed deploy is not swept again


def test_a_deploy_within_its_deadline_is_left_alone(tenant, deps):
    world = make_world(tenant)
    _, deploy_id = seed_runtime(deps, tenant.workspace_id, world)
    deploy = deps.store.get(Deploy, tenant.workspace_id, deploy_id)
    deploy.deadline_at = utcnow() + timedelta(hours=1)
    deps.store.save(deploy)
    assert reconcile.sweep(deps)["overdue_deploys"] == []
    assert deps.store.get(Deploy, tenant.workspace_id, deploy_id).status is DeployStatus.queued


def test_an_agent_silent_for_ten_minutes_is_marked_disconnected(tenant, deps):
    world = make_world(tenant)
    instance_id, _ = seed_runtime(deps, tenant.workspace_id, world)
    instance = deps.store.get(Instance, tenant.workspace_id, instance_id)
    stale = (utcnow() - timedelta(minutes=11)).isoformat()
    deps.store.set_fields(instance, agent_connected=True, connection_id="c1", last_seen_at=stale)
    assert reconcile.sweep(deps)["silent_agents"] == [instance_id]
    after = deps.store.get(Instance, tenant.workspace_id, instance_id)
    assert after.agent_connected is False and after.connection_id is None
    assert reconcile.sweep(deps)["silent_agents"] == []  # out of the sweep group once marked
