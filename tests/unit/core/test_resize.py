"""Resize against the fakes: the plan and its price change, refusals before anything
stops, the resize branch of the deploy machine, and a provider failing mid-resize."""

from __future__ import annotations

import pytest

from vmkit.errors import Conflict, Forbidden, InvalidInput, ProviderError
from vmkit.models import DeployAction, DeployStatus, Interface, Scope
from vmkit.schemas import EnvironmentUpdate
from vmkit.services import environments, releases, resize
from vmkit.services.orchestration import WORKFLOW_PATH


def _with_vm(core):
    core.forge.tree[WORKFLOW_PATH] = "name: vmkit deploy\n"
    deploy = core.begin()
    core.step("EnsureInstance", deploy)
    core.connect_agent()
    core.step("MarkSucceeded", deploy)


def _run(core, deploy):
    core.step("LoadContext", deploy)
    core.step("ResizeInstance", deploy)


def test_a_dry_run_shows_the_sizes_and_the_monthly_price_change(core):
    _with_vm(core)
    plan = resize.plan_resize(core.deps, core.principal, core.environment_id, "cax21")
    assert (plan.from_server_type, plan.to_server_type, plan.disk_gb) == ("cax11", "cax21", 40)
    assert plan.monthly_change_usd == round(plan.to_monthly_usd - plan.from_monthly_usd, 2) > 0
    assert core.compute.called("resize_server") == [] and core.env().active_deploy_id is None


def test_a_resize_runs_as_a_deploy_and_the_agent_comes_back(core):
    _with_vm(core)
    started = resize.start_resize(core.deps, core.principal, core.environment_id, "cax21")
    assert started.action is DeployAction.resize and core.env().active_deploy_id == started.id
    _run(core, started)
    instance = core.instance()
    assert core.compute.called("resize_server") == [(instance.provider_server_id, "cax21")]
    assert not instance.agent_connected  # it went down with the VM
    assert instance.server_type == "cax21" and core.env().server_type == "cax21"
    cost = environments.monthly_cost(core.deps, core.env())
    assert (
        cost
        == resize.plan_resize(
            core.deps, core.principal, core.environment_id, "cax11"
        ).from_monthly_usd
    )
    core.step("WaitForAgent", started, token="tok-back")
    assert "tok-back" not in core.executions.resumed  # waits for the agent...
    core.connect_agent("conn-2")  # ...which reconnects after the reboot
    assert core.executions.resumed["tok-back"]["output"]["agent_version"] == "0.1.0"
    core.step("MarkSucceeded", started)
    done = core.deploy(started.id)
    assert done.status is DeployStatus.succeeded and done.release_number is None  # no release
    assert [
        r.number for r in releases.list_releases(core.deps, core.principal, core.environment_id)
    ] == [1]
    # back down to the size whose disk the VM kept
    back = resize.plan_resize(core.deps, core.principal, core.environment_id, "cax11")
    assert back.monthly_change_usd < 0 and back.disk_gb == 40


def test_refusals_come_before_anything_stops(core):
    with pytest.raises(Conflict) as no_vm:
        resize.start_resize(core.deps, core.principal, core.environment_id, "cax21")
    assert no_vm.value.code == "no_instance"
    _with_vm(core)
    core.deps.store.set_fields(core.instance(), disk_gb=160)  # as if made at cax31
    with pytest.raises(InvalidInput) as smaller:
        resize.start_resize(core.deps, core.principal, core.environment_id, "cax21")
    assert smaller.value.code == "resize_refused" and "160 GB" in smaller.value.message
    with pytest.raises(Conflict) as other_provider:
        resize.start_resize(core.deps, core.principal, core.environment_id, "s-2vcpu-4gb")
    assert "s-2vcpu-4gb" in other_provider.value.message
    with pytest.raises(InvalidInput) as same:
        resize.start_resize(core.deps, core.principal, core.environment_id, "cax11")
    assert same.value.code == "same_size"
    deployer = core.principal.__class__(
        core.principal.workspace_id, "key:d", Scope.deploy, Interface.rest, key_id="d"
    )
    with pytest.raises(Forbidden):
        resize.start_resize(core.deps, deployer, core.environment_id, "cax31")
    assert core.compute.called("resize_server") == [] and core.env().active_deploy_id is None


def test_patching_the_size_of_an_environment_with_a_vm_starts_a_resize(core):
    _with_vm(core)
    env = environments.update_environment(
        core.deps, core.principal, core.environment_id, EnvironmentUpdate(server_type="cax31")
    )
    assert env.server_type == "cax11" and env.active_deploy_id  # cax31 once it succeeds
    assert core.deploy(env.active_deploy_id).resize_to == "cax31"
    with pytest.raises(Conflict):  # refused whole: nothing else in the PATCH applies
        environments.update_environment(
            core.deps,
            core.principal,
            core.environment_id,
            EnvironmentUpdate(server_type="s-2vcpu-4gb", ssh_allow_from=["10.0.0.0/8"]),
        )
    assert core.env().ssh_allow_from == []


def test_a_provider_failing_mid_resize_fails_it_with_the_reason_and_a_retry_succeeds(core):
    _with_vm(core)
    first = resize.start_resize(core.deps, core.principal, core.environment_id, "cax21")
    core.step("LoadContext", first)
    core.compute.fail_next(
        "resize_server",
        ProviderError(
            "Hetzner refused to resize a server (server 1 to cax21 in fsn1): HTTP 503",
            provider="hetzner",
        ),
    )
    with pytest.raises(ProviderError):
        core.step("ResizeInstance", first)
    core.step("MarkFailed", first, error={"Error": "ProviderError", "Cause": "{}"})
    failed = core.deploy(first.id)
    assert failed.status is DeployStatus.failed and failed.failure.step == "ResizeInstance"
    assert "refused to resize" in failed.failure.reason
    assert core.env().server_type == "cax11" and core.instance().server_type == "cax11"
    assert core.env().active_deploy_id is None

    again = resize.start_resize(core.deps, core.principal, core.environment_id, "cax21")
    _run(core, again)
    core.connect_agent("conn-3")
    core.step("WaitForAgent", again, token="tok-again")
    core.step("MarkSucceeded", again)
    assert core.deploy(again.id).status is DeployStatus.succeeded
    assert core.env().server_type == "cax21"
