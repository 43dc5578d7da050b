"""Reconciliation after a control plane lost its executions (a local restart, a lost
execution on AWS): deploys nothing will resume are failed with the reason, cancelled
ones stay cancelled, and VMs no environment has are destroyed. Against the fakes."""

from __future__ import annotations

from datetime import timedelta

from vmkit.models import DeployStatus, Environment, utcnow
from vmkit.ports import Server
from vmkit.services import deploys, reconcile
from vmkit.services.orchestration import INSTANCE_LABEL, MANAGED_LABEL


def waiting_for_agent(core):
    deploy = core.begin()
    core.step("EnsureInstance", deploy)
    core.step("WaitForAgent", deploy, token="tok-agent")
    return deploy


def test_after_a_restart_a_waiting_deploy_is_failed_with_the_reason_and_frees_its_env(core):
    deploy = waiting_for_agent(core)
    core.executions.lose_all()

    result = reconcile.after_restart(core.deps)

    assert result == {"lost_executions": [deploy.id], "orphan_servers": [], "failed_items": []}
    failed = core.deploy(deploy.id)
    assert failed.status is DeployStatus.failed
    assert failed.failure.step == "WaitForAgent"
    assert failed.failure.reason == "the control plane restarted during this deploy; deploy again"
    assert core.env().active_deploy_id is None
    assert core.env().instance_id  # the VM is kept for the next deploy
    assert reconcile.after_restart(core.deps)["lost_executions"] == []  # once


def test_a_cancelled_deploy_stays_cancelled(core):
    deploy = waiting_for_agent(core)
    deploys.cancel_deploy(core.deps, core.principal, deploy.id)
    core.executions.lose_all()

    assert reconcile.after_restart(core.deps)["lost_executions"] == []
    assert core.deploy(deploy.id).status is DeployStatus.cancelled


def test_the_sweeper_fails_a_lost_execution_only_once_it_is_past_the_grace(core):
    deploy = waiting_for_agent(core)
    core.executions.lose_all()
    assert reconcile.sweep(core.deps)["lost_executions"] == []  # may be starting right now

    record = core.deploy(deploy.id)
    record.updated_at = utcnow() - timedelta(minutes=5)
    core.deps.store.table.put({**core.deps.store._item(record), "version": record.version})
    assert reconcile.sweep(core.deps)["lost_executions"] == [deploy.id]


def test_an_execution_that_ended_without_ending_its_deploy_says_how_it_ended(core):
    deploy = waiting_for_agent(core)
    core.executions.ended[deploy.id] = "FAILED"
    reconcile.after_restart(core.deps)
    assert core.deploy(deploy.id).failure.reason == (
        "its execution ended (failed) before the deploy did; deploy again"
    )


def test_a_running_execution_is_left_alone(core):
    deploy = waiting_for_agent(core)
    assert reconcile.after_restart(core.deps)["lost_executions"] == []
    assert core.deploy(deploy.id).status is DeployStatus.waiting_for_agent


def test_servers_no_environment_has_are_destroyed_and_the_environments_vm_kept(core):
    deploy = waiting_for_agent(core)
    kept = core.instance().provider_server_id
    labels = {MANAGED_LABEL: "true"}
    core.compute.servers["lost"] = Server("lost", "x", "running", "203.0.113.9", {
        **labels, INSTANCE_LABEL: "instance-the-state-never-held"})  # fmt: skip
    core.compute.servers["unlabelled"] = Server("unlabelled", "y", "running", None, labels)
    core.compute.servers["not-ours"] = Server("not-ours", "z", "running", None, {})
    core.executions.lose_all()

    result = reconcile.after_restart(core.deps)

    assert sorted(result["orphan_servers"]) == ["lost", "unlabelled"]
    assert set(core.compute.servers) == {kept, "not-ours"}
    assert core.deploy(deploy.id).status is DeployStatus.failed


def test_a_vm_its_environment_moved_on_from_is_destroyed(core):
    waiting_for_agent(core)
    old = core.instance().provider_server_id
    env = core.env()
    core.deps.store.save(Environment.model_validate({**env.model_dump(), "instance_id": None}))

    assert reconcile.after_restart(core.deps)["orphan_servers"] == [old]


def test_a_vm_of_another_workspace_on_the_same_account_is_kept(core):
    from vmkit.auth import Principal
    from vmkit.models import Instance, Interface, Provider, Scope
    from vmkit.schemas import ComputeTargetCreate
    from vmkit.services import compute_targets, workspaces

    other, _ = workspaces.bootstrap_workspace(core.deps, "globex")
    admin = Principal(other.id, "key:admin", Scope.admin, Interface.rest, key_id="admin")
    target = compute_targets.create_target(
        core.deps,
        admin,
        ComputeTargetCreate(name="h", provider=Provider.hetzner, token="hz-1234567"),
    )
    mine = core.env()
    theirs = Environment.model_validate(
        {**mine.model_dump(), "id": "env-theirs", "workspace_id": other.id, "instance_id": "i-theirs",
         "compute_target_id": target.id, "version": 0}
    )  # fmt: skip
    core.deps.store.create(theirs)
    core.deps.store.create(
        Instance(id="i-theirs", workspace_id=other.id, environment_id=theirs.id,
                 compute_target_id=target.id, provider=Provider.hetzner, server_type="cx22",
                 region="fsn1", provider_server_id="theirs")
    )  # fmt: skip
    core.compute.servers["theirs"] = Server(
        "theirs", "t", "running", None, {MANAGED_LABEL: "true", INSTANCE_LABEL: "i-theirs"}
    )

    assert reconcile.after_restart(core.deps)["orphan_servers"] == []
    assert "theirs" in core.compute.servers


def test_a_provider_refusing_to_list_or_delete_does_not_stop_the_sweep(core):
    from tests.support.fakes import transient

    deploy = waiting_for_agent(core)
    core.compute.servers["lost"] = Server(
        "lost", "x", "running", None, {MANAGED_LABEL: "true", INSTANCE_LABEL: "gone"}
    )
    core.executions.lose_all()
    core.compute.fail_next("find_servers", transient())
    assert reconcile.after_restart(core.deps)["orphan_servers"] == []
    core.compute.fail_next("delete_server", transient())
    assert reconcile.after_restart(core.deps)["orphan_servers"] == []
    assert reconcile.after_restart(core.deps)["orphan_servers"] == ["lost"]
    assert core.deploy(deploy.id).status is DeployStatus.failed
