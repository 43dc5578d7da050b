"""Every step of the deploy and teardown machines, against the fakes.

For each: the happy path, a provider failure (transient ones surface as the error
name the machine retries on), a retry after a timeout doing no harm twice, and a
duplicate resume being ignored.
"""

from __future__ import annotations

import pytest

from tests.support.fakes import transient
from vmkit import credentials
from vmkit.errors import AgentUnavailable, ProviderError, TransientProviderError
from vmkit.models import (
    ComputeTarget,
    DeployAction,
    DeployStatus,
    Environment,
    InstanceStatus,
    OnboardingState,
    Repo,
)
from vmkit.services import deploys, waits
from vmkit.services.orchestration import SSH_KEY_SECRET, WORKFLOW_FILE, WORKFLOW_PATH


def onboarded(core) -> None:
    core.forge.tree[WORKFLOW_PATH] = "name: vmkit deploy\n"


def provisioned(core):
    """A deploy that has its VM, with the agent connected: ready to harden."""
    onboarded(core)
    deploy = core.begin()
    core.step("EnsureInstance", deploy)
    core.connect_agent()
    return deploy


# --- LoadContext / CheckOnboarding -----------------------------------------------------


def test_load_context_pins_the_commit_and_marks_the_deploy_running(core):
    deploy = core.start()
    assert core.executions.started[deploy.id]["deploy_id"] == deploy.id
    core.step("LoadContext", deploy)
    after = core.deploy(deploy.id)
    assert after.status is DeployStatus.running and after.commit_sha == "a" * 40
    assert after.steps[-1].detail == f"acme/invoicer@main ({'a' * 7})"


def test_a_transient_forge_failure_surfaces_as_the_retried_error_and_is_noted(core):
    deploy = core.start()
    core.forge.fail_next("default_branch_sha", transient("github"))
    with pytest.raises(TransientProviderError):
        core.step("LoadContext", deploy)
    noted = core.deploy(deploy.id).last_error
    assert noted.step == "LoadContext" and "503" in noted.reason
    core.step("LoadContext", deploy)  # the machine's retry succeeds
    assert core.deploy(deploy.id).status is DeployStatus.running


def test_a_permanent_forge_failure_is_not_retried(core):
    deploy = core.start()
    core.forge.branches.clear()
    with pytest.raises(ProviderError) as raised:
        core.step("LoadContext", deploy)
    assert not isinstance(raised.value, TransientProviderError)


def test_check_onboarding_finds_the_workflow_and_notes_the_repo_as_onboarded(core):
    deploy = core.start()
    assert core.step("CheckOnboarding", deploy) == {"onboarded": False}
    onboarded(core)
    assert core.step("CheckOnboarding", deploy) == {"onboarded": True}
    repo = core.deps.store.get(Repo, deploy.workspace_id, deploy.repo_id)
    assert repo.onboarding is OnboardingState.already_onboarded


# --- OpenOnboardingPR ------------------------------------------------------------------


def test_the_onboarding_pr_wait_is_parked_before_the_pr_opens_and_resumes_once(core):
    deploy = core.begin()
    core.step("OpenOnboardingPR", deploy, token="tok-pr")
    assert core.deps.store.waits.waiting_for_merge(deploy.repo_id) == [deploy.id]
    after = core.deploy(deploy.id)
    assert after.status is DeployStatus.waiting_for_pr
    assert after.steps[-1].detail.startswith("merge https://github.com/acme/app/pull/1")
    assert WORKFLOW_PATH in core.forge.proposed["vmkit/onboarding"]

    assert waits.resume(core.deps, deploy.id, "pr", output={"merged": True})
    assert not waits.resume(core.deps, deploy.id, "pr", output={"merged": True})  # a redelivery
    assert core.executions.resumed == {"tok-pr": {"output": {"merged": True}}}
    assert core.deps.store.waits.waiting_for_merge(deploy.repo_id) == []


def test_opening_the_pr_again_updates_the_same_pr(core):
    deploy = core.begin()
    core.step("OpenOnboardingPR", deploy, token="tok-1")
    core.step("OpenOnboardingPR", deploy, token="tok-2")  # retried after a timeout
    assert [pr.number for pr in core.forge.pulls.values()] == [1]
    assert core.forge.pulls["vmkit/onboarding"].created is False


# --- EnsureInstance --------------------------------------------------------------------


def test_ensure_instance_creates_a_labelled_server_whose_cloud_init_installs_the_agent(core):
    deploy = core.start()
    assert core.step("EnsureInstance", deploy) == {"provisioned": True}
    instance = core.instance()
    assert instance.status is InstanceStatus.running and instance.ip == "203.0.113.1"
    (server,) = core.compute.servers.values()
    assert server.labels["vmkit.dev/instance"] == instance.id
    user_data = core.compute.user_data[server.id]
    assert core.artifacts.agent.checksum_sha256 in user_data
    assert "vmka_" in user_data and "wss://agents.example.test/agents" in user_data
    assert core.deps.store.lookup(type(instance), instance.agent_token_id).id == instance.id
    assert "vmka_" not in core.deploy(deploy.id).model_dump_json()  # the token went nowhere else


def test_ensure_instance_retried_after_a_timeout_adopts_the_server_it_made(core):
    deploy = core.start()
    core.step("EnsureInstance", deploy)
    token_id = core.instance().agent_token_id
    core.step("EnsureInstance", deploy)  # the first attempt's reply was lost
    assert len(core.compute.servers) == 1 and len(core.compute.called("create_server")) == 1
    assert core.instance().agent_token_id == token_id  # the token in the VM's user data


def test_a_second_deploy_reuses_the_vm_whose_agent_registered(core):
    first = provisioned(core)
    core.step("MarkSucceeded", first)
    second = core.start()
    assert core.step("EnsureInstance", second) == {"provisioned": False}
    assert len(core.compute.called("create_server")) == 1


def test_a_vm_whose_agent_never_came_up_is_replaced_by_the_next_deploy(core):
    first = core.start()
    core.step("EnsureInstance", first)
    core.step("MarkFailed", first, error={"Error": "States.Timeout", "Cause": ""})
    (dead,) = core.compute.servers
    second = core.start()
    assert core.step("EnsureInstance", second) == {"provisioned": True}
    assert dead not in core.compute.servers and len(core.compute.servers) == 1


def test_a_transient_provider_failure_creating_the_server_is_retried_without_a_second_vm(core):
    deploy = core.start()
    core.compute.fail_next("create_server", transient())
    with pytest.raises(TransientProviderError):
        core.step("EnsureInstance", deploy)
    core.step("EnsureInstance", deploy)
    assert len(core.compute.servers) == 1


# --- WaitForAgent / HardenInstance -----------------------------------------------------


def test_wait_for_agent_resumes_when_the_agent_registers_and_ignores_a_second_register(core):
    deploy = core.begin()
    core.step("EnsureInstance", deploy)
    core.step("WaitForAgent", deploy, token="tok-agent")
    assert core.deploy(deploy.id).status is DeployStatus.waiting_for_agent
    core.connect_agent("conn-1")
    core.connect_agent("conn-2")  # a reconnect registers again
    assert core.executions.resumed["tok-agent"] == {"output": {"agent_version": "0.1.0"}}
    assert len(core.executions.called("resume")) == 1


def test_wait_for_agent_resumes_at_once_if_the_agent_is_already_connected(core):
    deploy = provisioned(core)
    core.step("WaitForAgent", deploy, token="tok-agent")
    assert "tok-agent" in core.executions.resumed


def test_harden_posts_the_deploy_key_and_the_agents_reply_resumes_the_deploy(core):
    deploy = provisioned(core)
    core.step("HardenInstance", deploy, token="tok-harden")
    call = core.agents.last_call("harden")
    assert call["params"]["deploy_public_key"].startswith("ssh-ed25519 ")
    # SSH only from GitHub's hosted runners, which the agent reads from /meta itself
    assert call["params"]["ssh_ingress"] == {
        "github_meta_url": f"{core.deps.settings.github_api_url}/meta",
        "allow_from": [],
    }
    core.reply("conn-1", call, {"ok": True, "changes": ["sshd"]})
    core.reply("conn-1", call, {"ok": True, "changes": []})  # a replayed reply
    assert core.executions.resumed["tok-harden"]["output"] == {"method": "harden", "ok": True}
    assert core.instance().hardened_at is not None
    assert len(core.executions.called("resume")) == 1


def test_an_agent_error_reply_fails_the_harden_wait_with_its_reason(core):
    import json

    from vmkit import agentrpc

    deploy = provisioned(core)
    core.step("HardenInstance", deploy, token="tok-harden")
    call = core.agents.last_call("harden")
    agentrpc.receive(
        core.deps,
        "conn-1",
        json.dumps(
            {"id": call["id"], "type": "error", "error": {"code": "io", "message": "disk full"}}
        ),
    )
    outcome = core.executions.resumed["tok-harden"]
    assert outcome["error"] == "AgentCallFailed" and "disk full" in outcome["cause"]


def test_harden_on_a_connection_that_is_gone_marks_the_agent_offline(core):
    deploy = provisioned(core)
    core.agents.gone.add("conn-1")
    with pytest.raises(AgentUnavailable):
        core.step("HardenInstance", deploy, token="tok-harden")
    instance = core.instance()
    assert not instance.agent_connected and instance.connection_id is None


# --- EnsureDNS / EnsureDeploySecrets / DispatchWorkflow --------------------------------


def test_dns_points_the_hostname_at_the_vm_and_a_rerun_changes_nothing(core):
    deploy = provisioned(core)
    core.step("EnsureDNS", deploy)
    core.step("EnsureDNS", deploy)
    assert core.dns.records == {core.env().hostname: core.instance().ip}


def test_a_cloudflare_outage_is_retried(core):
    deploy = provisioned(core)
    core.dns.fail_next("upsert_a_record", transient("cloudflare"))
    with pytest.raises(TransientProviderError):
        core.step("EnsureDNS", deploy)


def test_deploy_secrets_are_the_deploy_key_and_the_env_vars_decrypted_only_here(core):
    deploy = provisioned(core)
    core.step("EnsureDeploySecrets", deploy)
    env = core.env()
    target = core.deps.store.get(ComputeTarget, env.workspace_id, env.compute_target_id)
    assert core.forge.secrets == {
        SSH_KEY_SECRET: credentials.deploy_private_key(core.deps.sealer, target),
        "STRIPE_KEY": "sk_live_CANARY",
    }
    assert core.forge.variables == {"MODE": "prod"}
    assert "sk_live_CANARY" not in core.deploy(deploy.id).model_dump_json()


def test_dispatch_parks_the_wait_then_runs_the_workflow_named_after_the_deploy(core):
    deploy = provisioned(core)
    core.step("DispatchWorkflow", deploy, token="tok-run")
    ((workflow, ref, inputs),) = core.forge.dispatched
    assert (workflow, ref) == (WORKFLOW_FILE, "main")
    assert inputs == {
        "deploy_id": deploy.id,
        "environment": "production",
        "server_host": core.instance().ip,
    }
    assert core.deploy(deploy.id).status is DeployStatus.waiting_for_workflow
    assert core.deps.store.waits.consume(deploy.id, "workflow").task_token == "tok-run"


# --- MarkSucceeded / MarkFailed --------------------------------------------------------


def test_mark_succeeded_records_the_url_and_frees_the_environment(core):
    deploy = provisioned(core)
    assert core.env().active_deploy_id == deploy.id
    result = core.step("MarkSucceeded", deploy)
    after = core.deploy(deploy.id)
    assert after.status is DeployStatus.succeeded and result["url"] == after.url
    assert after.url == f"https://{core.env().hostname}"
    assert core.env().active_deploy_id is None


def test_mark_failed_names_the_waiting_step_on_a_timeout(core):
    deploy = core.begin()
    core.step("EnsureInstance", deploy)
    core.step("WaitForAgent", deploy, token="tok-agent")
    core.step("MarkFailed", deploy, error={"Error": "States.Timeout", "Cause": ""})
    after = core.deploy(deploy.id)
    assert after.status is DeployStatus.failed and after.failure.step == "WaitForAgent"
    assert "never connected" in after.failure.reason
    assert core.env().active_deploy_id is None


def test_mark_failed_uses_the_reason_the_failing_step_noted(core):
    deploy = core.start()
    core.forge.branches.clear()
    with pytest.raises(ProviderError):
        core.step("LoadContext", deploy)
    core.step("MarkFailed", deploy, error={"Error": "ProviderError", "Cause": "{}"})
    failure = core.deploy(deploy.id).failure
    assert failure.step == "LoadContext" and "branch main" in failure.reason


def test_a_deploy_cancelled_while_a_step_ran_keeps_the_cancel_as_its_reason(core):
    deploy = core.start()
    deploys.cancel_deploy(core.deps, core.principal, deploy.id)
    core.step("MarkFailed", deploy, error={"Error": "States.TaskFailed", "Cause": ""})
    after = core.deploy(deploy.id)
    assert after.status is DeployStatus.cancelled and after.failure.reason.startswith("cancelled")
    assert core.executions.stopped == {deploy.execution_arn: "Cancelled"}


# --- teardown --------------------------------------------------------------------------


def test_teardown_deletes_the_vm_the_record_and_the_secrets_and_forgets_the_environment(core):
    deploy = provisioned(core)
    core.step("EnsureDNS", deploy)
    core.step("EnsureDeploySecrets", deploy)
    core.step("MarkSucceeded", deploy)
    hostname = core.env().hostname
    teardown = core.begin(DeployAction.teardown)
    core.step("DestroyInstance", teardown)
    core.step("DestroyInstance", teardown)  # retried: nothing left to delete, no error
    core.step("DeleteDNS", teardown)
    core.step("DeleteDeploySecrets", teardown)
    core.step("MarkSucceeded", teardown)
    assert core.compute.servers == {} and hostname not in core.dns.records
    assert core.forge.secrets == {}
    assert core.deploy(teardown.id).status is DeployStatus.succeeded
    assert core.deps.store.find(Environment, teardown.workspace_id, core.environment_id) is None
