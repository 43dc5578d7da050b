"""A deploy, end to end, on the local stack: through REST as a user, GitHub as GitHub."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from typing import Any

import pytest

from tests.e2e.conftest import Local, ok
from vmkit_local.demo import push_commit
from vmkit_local.testing import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def deployed(local: Local, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    app = local.new_app(tmp_path_factory.mktemp("apps"), "invoicer")
    app["first"] = local.deploy_until_done(app)
    return app


def test_a_deploy_reaches_succeeded_and_the_url_answers(local: Local, deployed):
    deploy = deployed["first"]
    assert deploy["status"] == "succeeded", deploy
    assert (
        deploy["url"]
        == deployed["env"]["url"]
        == f"{local.cloud.apps_url.format(name='invoicer-production')}"
    )
    steps = [s["name"] for s in deploy["steps"]]
    for expected in [
        "LoadContext",
        "CheckOnboarding",
        "OpenOnboardingPR",
        "EnsureInstance",
        "WaitForAgent",
        "HardenInstance",
        "EnsureDNS",
        "EnsureDeploySecrets",
        "DispatchWorkflow",
        "Done",
    ]:
        assert expected in steps
    answer = local.get_app(deploy["url"])
    assert answer.status_code == 200 and "version 1.0.0" in answer.text
    assert deploy["run_url"] and "/actions/runs/" in deploy["run_url"]


def test_a_new_commit_reuses_vm_dns_and_secrets_and_switches_with_no_failed_request(
    local: Local, deployed
):
    env_id = deployed["env"]["id"]
    before = ok(local.api.get(f"/api/environments/{env_id}"))
    push_commit(local.cloud, deployed["repo"].full_name, "VERSION", "2.0.0\n", "Release 2.0.0")
    failures: list[str] = []
    served: set[str] = set()
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                answer = local.get_app(deployed["first"]["url"])
                if answer.status_code != 200:
                    failures.append(f"{answer.status_code} {answer.text[:80]}")
                served.add(answer.text.strip())
            except Exception as error:  # a refused connection is a failed request too
                failures.append(repr(error))

    client = threading.Thread(target=hammer)
    client.start()
    try:
        second = local.wait(local.deploy(env_id)["id"])
    finally:
        stop.set()
        client.join()
    assert second["status"] == "succeeded", second
    details = {s["name"]: s.get("detail") or "" for s in second["steps"]}
    assert "OpenOnboardingPR" not in details  # onboarded already
    assert details["EnsureInstance"].startswith(f"reusing {before['instance_id']}")
    after = ok(local.api.get(f"/api/environments/{env_id}"))
    assert after["instance_id"] == before["instance_id"]
    assert failures == []
    assert any("version 1.0.0" in s for s in served) and any("version 2.0.0" in s for s in served)
    assert "version 2.0.0" in local.get_app(second["url"]).text


def test_a_failed_run_fails_the_deploy_with_the_log_url_and_the_old_version_keeps_serving(
    local: Local, deployed
):
    env_id = deployed["env"]["id"]
    app_py = (deployed["source"] / "app.py").read_text()
    broken = app_py.replace('if self.path == "/up":', 'if self.path == "/never-healthy":')
    assert broken != app_py
    push_commit(local.cloud, deployed["repo"].full_name, "app.py", broken, "Break the health check")
    failed = local.wait(local.deploy(env_id)["id"])
    assert failed["status"] == "failed"
    assert failed["failure"]["step"] == "DispatchWorkflow"
    assert (
        "concluded 'failure'" in failed["failure"]["reason"]
        and failed["run_url"] in failed["failure"]["reason"]
    )
    assert (
        local.get_app(failed["url"] or deployed["first"]["url"]).status_code == 200
    )  # still the old release
    push_commit(local.cloud, deployed["repo"].full_name, "app.py", app_py, "Fix the health check")
    assert local.wait(local.deploy(env_id)["id"])["status"] == "succeeded"


def test_a_redelivered_webhook_is_acknowledged_and_changes_nothing(local: Local, deployed):
    github = local.cloud.github
    completed = [
        d for d in github.deliveries() if d.event == "workflow_run" and d.action == "completed"
    ]
    deploys_before = ok(
        local.api.get("/api/deploys", params={"environment_id": deployed["env"]["id"]})
    )
    github.redeliver(completed[-1].guid)
    again = wait_for(
        lambda: next(
            (
                d
                for d in github.deliveries()
                if d.redelivery and d.guid == completed[-1].guid and d.status_code is not None
            ),
            None,
        )
    )
    assert again.status_code == 200
    deploys_after = ok(
        local.api.get("/api/deploys", params={"environment_id": deployed["env"]["id"]})
    )
    assert deploys_after == deploys_before


def test_a_webhook_with_a_bad_signature_is_refused_and_touches_nothing(local: Local, deployed):
    deploy = deployed["first"]
    body = json.dumps(
        {
            "action": "completed",
            "workflow_run": {
                "name": f"VMKit deploy {deploy['id']}",
                "status": "completed",
                "conclusion": "failure",
                "html_url": "https://evil.example",
            },
            "repository": {"full_name": deployed["repo"].full_name},
        }
    ).encode()
    forged = "sha256=" + hmac.new(b"not the secret", body, hashlib.sha256).hexdigest()
    answer = local.api.post(
        "/api/webhooks/github",
        content=body,
        headers={
            "X-Hub-Signature-256": forged,
            "X-GitHub-Event": "workflow_run",
            "X-GitHub-Delivery": "forged-1",
            "Content-Type": "application/json",
        },
    )
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "bad_signature"
    assert ok(local.api.get(f"/api/deploys/{deploy['id']}")) == ok(
        local.api.get(f"/api/deploys/{deploy['id']}")
    )
    assert ok(local.api.get(f"/api/deploys/{deploy['id']}"))["status"] == "succeeded"


def test_a_second_deploy_while_one_runs_is_refused_with_the_active_id(local: Local, tmp_path):
    app = local.new_app(tmp_path)
    first = local.deploy(app["env"]["id"])
    busy = local.api.post(f"/api/environments/{app['env']['id']}/deploys", json={})
    assert busy.status_code == 409
    assert busy.json()["error"]["details"]["active_deploy_id"] == first["id"]
    local.wait(first["id"], lambda d: d["status"] == "waiting_for_pr")
    cancelled = ok(local.api.post(f"/api/deploys/{first['id']}/cancel"))
    assert cancelled["status"] == "cancelled" and "cancelled by" in cancelled["failure"]["reason"]
    # nothing half made: no VM was created, and the next deploy goes through
    assert ok(local.api.get(f"/api/environments/{app['env']['id']}"))["instance_id"] is None
    assert local.deploy_until_done(app)["status"] == "succeeded"


def test_teardown_removes_the_vm_and_the_dns_record(local: Local, tmp_path):
    app = local.new_app(tmp_path)
    deployed = local.deploy_until_done(app)
    assert deployed["status"] == "succeeded"
    env = ok(local.api.get(f"/api/environments/{app['env']['id']}"))
    instance = ok(local.api.get(f"/api/instances/{env['instance_id']}"))
    assert local.cloud.cloudflare.resolve(env["hostname"]) == instance["ip"]
    teardown = local.api.delete(f"/api/environments/{env['id']}")
    assert teardown.status_code == 202
    assert local.wait(teardown.json()["id"])["status"] == "succeeded"
    assert local.cloud.cloudflare.resolve(env["hostname"]) is None
    assert local.cloud.fleet.root_for_ip(instance["ip"]) is None
    assert local.api.get(f"/api/environments/{env['id']}").status_code == 404
    assert ok(local.api.get(f"/api/instances/{instance['id']}"))["status"] == "destroyed"


def test_onboarding_again_updates_the_same_pull_request_and_keeps_the_users_files(
    local: Local, tmp_path
):
    app = local.new_app(tmp_path)
    first = ok(local.api.post(f"/api/repos/{app['repo_id']}/onboard", json={}))
    assert first["created"] is True and ".github/workflows/vmkit-deploy.yml" in first["files"]
    again = ok(local.api.post(f"/api/repos/{app['repo_id']}/onboard", json={}))
    assert again["pr_number"] == first["pr_number"] and again["created"] is False
    local.merge_onboarding_pr(app["repo"].full_name)
    push_commit(
        local.cloud,
        app["repo"].full_name,
        "config/deploy.yml",
        "# tuned by hand\n",
        "My own Kamal config",
    )
    third = ok(local.api.post(f"/api/repos/{app['repo_id']}/onboard", json={}))
    assert "config/deploy.yml" in third["kept"] and "config/deploy.yml" not in third["files"]
    scan = ok(local.api.post(f"/api/repos/{app['repo_id']}/scan"))
    assert scan["language"] == "python" and scan["health_path"] == "/up"
