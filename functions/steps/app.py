"""One handler per state of the deploy and teardown machines (logic: vmkit.services.orchestration).

Each is its own Lambda function in template.yaml, with only the permissions its step
needs; they share this file because each is one line.
"""

from vmkit.coldstart import init_phase

with init_phase():
    from vmkit.handlers.steps import lambda_step
    from vmkit.services import orchestration as o
    from vmkit.settings import get_settings

    get_settings().require("table_name", "kms_key_id")

    load_context = lambda_step("LoadContext", o.load_context)
    check_onboarding = lambda_step("CheckOnboarding", o.check_onboarding)
    open_onboarding_pr = lambda_step("OpenOnboardingPR", o.open_onboarding_pr)
    destroy_instance = lambda_step("DestroyInstance", o.destroy_instance)
    resize_instance = lambda_step("ResizeInstance", o.resize_instance)
    ensure_instance = lambda_step("EnsureInstance", o.ensure_instance)
    wait_for_agent = lambda_step("WaitForAgent", o.wait_for_agent)
    harden_instance = lambda_step("HardenInstance", o.harden_instance)
    ensure_dns = lambda_step("EnsureDNS", o.ensure_dns)
    ensure_deploy_secrets = lambda_step("EnsureDeploySecrets", o.ensure_deploy_secrets)
    dispatch_workflow = lambda_step("DispatchWorkflow", o.dispatch_workflow)
    mark_succeeded = lambda_step("MarkSucceeded", o.mark_succeeded)
    mark_failed = lambda_step("MarkFailed", o.mark_failed)
    delete_dns = lambda_step("DeleteDNS", o.delete_dns)
    delete_deploy_secrets = lambda_step("DeleteDeploySecrets", o.delete_deploy_secrets)
