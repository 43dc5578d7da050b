"""GitHub simulator: sealed-box secrets, workflow dispatch, runs and workflow_run webhooks."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from githubkit.exception import RequestFailed
from githubkit.webhooks import parse as parse_webhook
from nacl.public import PrivateKey, PublicKey, SealedBox

from tests.support.octokit import octokit_examples
from vmkit_local.simulators.github import GitHubSimulator

DEPLOY_KEY = "\n".join(
    [
        "-----BEGIN OPENSSH PRIVATE KEY-----",
        "b3BlbnNzaC1rZXktdjEAAAAA",
        "-----END OPENSSH PRIVATE KEY-----",
    ]
)


def failure(call) -> tuple[int, dict]:
    with pytest.raises(RequestFailed) as caught:
        call()
    return caught.value.response.status_code, caught.value.response.json()


def seal(gh, value: str, repo: str = "shop") -> tuple[str, str]:
    key = gh.rest.actions.get_repo_public_key("acme", repo).parsed_data
    sealed = SealedBox(PublicKey(base64.b64decode(key.key))).encrypt(value.encode())
    return base64.b64encode(sealed).decode(), key.key_id


def set_secret(gh, name: str, value: str):
    encrypted, key_id = seal(gh, value)
    return gh.rest.actions.create_or_update_repo_secret(
        "acme", "shop", name, encrypted_value=encrypted, key_id=key_id
    )


def dispatch(gh, ref: str = "main", **inputs):
    return gh.rest.actions.create_workflow_dispatch(
        "acme", "shop", "vmkit-deploy.yml", ref=ref, inputs=inputs
    )


def test_a_dispatched_run_gets_the_secrets_and_reports_with_signed_webhooks(
    github, gh, shop, runner, webhooks
):
    # Given the deploy key sealed into an Actions secret (then rotated),
    assert set_secret(gh, "VMKIT_SSH_PRIVATE_KEY", "old").status_code == 201
    assert set_secret(gh, "VMKIT_SSH_PRIVATE_KEY", DEPLOY_KEY).status_code == 204
    names = gh.rest.actions.list_repo_secrets("acme", "shop").parsed_data
    assert [secret.name for secret in names.secrets] == ["VMKIT_SSH_PRIVATE_KEY"]

    # when the deploy workflow is dispatched with its inputs,
    answer = dispatch(gh, deploy_id="01JDEPLOY").parsed_data

    # then the three workflow_run webhooks arrive in order, signed and in GitHub's shape,
    arrived = [webhooks.next() for _ in range(3)]
    events = [parse_webhook("workflow_run", hook.body) for hook in arrived]
    assert [event.action for event in events] == ["requested", "in_progress", "completed"]
    assert [event.workflow_run.status for event in events] == ["queued", "in_progress", "completed"]
    assert all(hook.signature_verifies() for hook in arrived)
    assert all(hook.headers["x-github-event"] == "workflow_run" for hook in arrived)
    assert len({hook.delivery for hook in arrived}) == 3
    completed = events[-1].workflow_run
    assert completed.id == answer.workflow_run_id
    assert completed.conclusion == "success"
    assert completed.name == "VMKit deploy 01JDEPLOY to production"
    assert completed.display_title == completed.name
    assert completed.html_url == answer.html_url
    assert completed.head_sha == shop.head_sha
    assert events[-1].workflow.path == ".github/workflows/vmkit-deploy.yml"
    assert events[-1].installation.id == github.installation_id("acme")
    for example in octokit_examples("workflow_run")[1:]:
        assert set(example["workflow_run"]) <= set(json.loads(arrived[-1].body)["workflow_run"])

    # and the runner got the decrypted secret, a checkout of the commit and typed inputs.
    [call] = runner.calls
    assert call.secrets == {"VMKIT_SSH_PRIVATE_KEY": DEPLOY_KEY}
    assert call.head == shop.head_sha
    assert call.files["app.py"] == b"print('hello')\n"
    assert call.run["inputs"] == {
        "deploy_id": "01JDEPLOY",
        "environment": "production",
        "dry_run": False,
    }
    assert call.run["repository"] == "acme/shop"
    assert call.run["workflow"]["jobs"]["deploy"]["runs-on"] == "ubuntu-latest"


def test_the_run_is_readable_over_rest_and_its_log_is_masked(github, gh, shop, github_url):
    set_secret(gh, "VMKIT_SSH_PRIVATE_KEY", DEPLOY_KEY)
    run_id = dispatch(gh, deploy_id="01JX", environment="staging").parsed_data.workflow_run_id
    assert github.wait_idle(10)

    run = gh.rest.actions.get_workflow_run("acme", "shop", run_id).parsed_data
    assert (run.status, run.conclusion, run.event) == ("completed", "success", "workflow_dispatch")
    assert (run.name, run.run_number, run.head_branch) == (
        "VMKit deploy 01JX to staging",
        1,
        "main",
    )
    [job] = gh.rest.actions.list_jobs_for_workflow_run("acme", "shop", run_id).parsed_data.jobs
    assert (job.name, job.status, job.conclusion) == ("Build and deploy", "completed", "success")

    page = httpx.get(run.html_url).text
    assert "using key ***" in page
    assert "OPENSSH" not in page and "b3BlbnNzaC1" not in page
    assert github.run_log(run_id) is not None and "***" in github.run_log(run_id)


def test_runs_are_listed_with_filters(github, gh, shop):
    gh.rest.git.create_ref("acme", "shop", ref="refs/heads/staging", sha=shop.head_sha)
    dispatch(gh, deploy_id="a")
    dispatch(gh, ref="staging", deploy_id="b")
    assert github.wait_idle(10)

    def names(**filters) -> list[str]:
        runs = gh.rest.actions.list_workflow_runs_for_repo("acme", "shop", **filters).parsed_data
        return [run.name.split()[2] for run in runs.workflow_runs]

    assert names() == ["b", "a"]
    assert names(branch="staging") == ["b"]
    assert names(status="success") == ["b", "a"]
    assert names(status="queued") == []
    assert names(actor="vmkit-local[bot]", event="workflow_dispatch") == ["b", "a"]
    runs = gh.rest.actions.list_workflow_runs("acme", "shop", "vmkit-deploy.yml").parsed_data
    assert [run.run_number for run in runs.workflow_runs] == [2, 1]
    workflows = gh.rest.actions.list_repo_workflows("acme", "shop").parsed_data.workflows
    assert [(w.name, w.path) for w in workflows] == [
        ("VMKit deploy", ".github/workflows/vmkit-deploy.yml")
    ]


def test_bad_dispatches_get_githubs_answers(gh, shop):
    def refused(**kwargs) -> tuple[int, str]:
        status, body = failure(lambda: dispatch(gh, **kwargs))
        return status, body["message"]

    assert refused(unexpected="x", deploy_id="a") == (
        422,
        'Unexpected inputs provided: ["unexpected"]',
    )
    assert refused() == (422, "Required input 'deploy_id' not provided")
    assert refused(deploy_id="a", environment="mars") == (
        422,
        "Provided value 'mars' for input 'environment' not in the list of allowed values",
    )
    assert refused(deploy_id="a", dry_run="maybe")[0] == 422
    assert refused(ref="nope", deploy_id="a") == (422, "No ref found for: nope")
    missing = failure(
        lambda: gh.rest.actions.create_workflow_dispatch("acme", "shop", "missing.yml", ref="main")
    )
    assert missing[0] == 404


def test_a_workflow_on_another_branch_and_one_without_the_trigger(github, gh, shop):
    push_only = "on: push\njobs:\n  ci:\n    runs-on: ubuntu-latest\n    steps: [{run: 'true'}]\n"
    blob = gh.rest.git.create_blob("acme", "shop", content=push_only).parsed_data
    base_tree = gh.rest.git.get_commit("acme", "shop", shop.head_sha).parsed_data.tree.sha
    tree = gh.rest.git.create_tree(
        "acme",
        "shop",
        base_tree=base_tree,
        tree=[
            {"path": ".github/workflows/ci.yml", "mode": "100644", "type": "blob", "sha": blob.sha}
        ],
    ).parsed_data
    commit = gh.rest.git.create_commit(
        "acme", "shop", message="ci", tree=tree.sha, parents=[shop.head_sha]
    ).parsed_data
    gh.rest.git.create_ref("acme", "shop", ref="refs/heads/ci", sha=commit.sha)

    def ci_on(ref: str):
        return failure(
            lambda: gh.rest.actions.create_workflow_dispatch("acme", "shop", "ci.yml", ref=ref)
        )

    assert ci_on("main")[0] == 404  # the file is not on that ref
    assert ci_on("ci") == (
        422,
        {
            "message": "Workflow does not have 'workflow_dispatch' trigger",
            "documentation_url": "https://docs.github.com/rest",
            "status": "422",
        },
    )


def test_sealed_secrets_are_checked_and_never_stored(github, gh, shop, tmp_path):
    encrypted, key_id = seal(gh, "s3cr3t-value")

    wrong_key = failure(
        lambda: gh.rest.actions.create_or_update_repo_secret(
            "acme", "shop", "A", encrypted_value=encrypted, key_id="123"
        )
    )
    assert wrong_key[0] == 422
    stranger = base64.b64encode(SealedBox(PrivateKey.generate().public_key).encrypt(b"x")).decode()
    not_ours = failure(
        lambda: gh.rest.actions.create_or_update_repo_secret(
            "acme", "shop", "A", encrypted_value=stranger, key_id=key_id
        )
    )
    assert not_ours[0] == 422
    for bad_name in ("1ABC", "GITHUB_TOKEN", "HAS-DASH"):
        assert (
            failure(
                lambda name=bad_name: gh.rest.actions.create_or_update_repo_secret(
                    "acme", "shop", name, encrypted_value=encrypted, key_id=key_id
                )
            )[0]
            == 422
        )

    gh.rest.actions.create_or_update_repo_secret(
        "acme", "shop", "db_password", encrypted_value=encrypted, key_id=key_id
    )
    assert gh.rest.actions.get_repo_secret("acme", "shop", "DB_PASSWORD").parsed_data.name == (
        "DB_PASSWORD"
    )
    assert "s3cr3t-value" not in (tmp_path / "github" / "state.json").read_text()
    assert gh.rest.actions.delete_repo_secret("acme", "shop", "DB_PASSWORD").status_code == 204
    assert failure(lambda: gh.rest.actions.get_repo_secret("acme", "shop", "DB_PASSWORD"))[0] == 404


def test_a_failing_runner_fails_the_run_with_a_masked_reason(github, gh, shop, runner, webhooks):
    set_secret(gh, "VMKIT_SSH_PRIVATE_KEY", DEPLOY_KEY)
    runner.error = RuntimeError(f"could not use {DEPLOY_KEY}")

    run_id = dispatch(gh, deploy_id="a").parsed_data.workflow_run_id
    completed = parse_webhook("workflow_run", [webhooks.next() for _ in range(3)][-1].body)

    assert completed.workflow_run.conclusion == "failure"
    log = github.run_log(run_id)
    assert "RuntimeError" in log and "OPENSSH" not in log


def test_an_unknown_conclusion_is_a_failure(github, gh, shop, runner):
    runner.conclusion = "kind-of-worked"
    run_id = dispatch(gh, deploy_id="a").parsed_data.workflow_run_id
    assert github.wait_idle(10)

    assert gh.rest.actions.get_workflow_run("acme", "shop", run_id).parsed_data.conclusion == (
        "failure"
    )


def test_without_a_runner_a_run_stays_queued(tmp_path, serve, webhooks):
    from githubkit import AppAuthStrategy, GitHub
    from githubkit.cache import MemCacheStrategy

    sim = GitHubSimulator(webhook_url=webhooks.url, webhook_secret="s")
    try:
        sim.create_repo("acme", "shop", {".github/workflows/d.yml": "on: workflow_dispatch\n"})
        assert webhooks.next().event == "installation"
        app = GitHub(
            AppAuthStrategy(str(sim.app_id), sim.app_private_key_pem),
            base_url=serve(sim.app),
            cache_strategy=MemCacheStrategy(),
        )
        gh = app.with_auth(app.auth.as_installation(sim.installation_id("acme")))
        run_id = gh.rest.actions.create_workflow_dispatch(
            "acme", "shop", "d.yml", ref="main"
        ).parsed_data.workflow_run_id

        assert parse_webhook("workflow_run", webhooks.next().body).action == "requested"
        assert sim.wait_idle(10)
        run = gh.rest.actions.get_workflow_run("acme", "shop", run_id).parsed_data
        # (a workflow without a name is called by its path, as on GitHub)
        assert (run.status, run.conclusion) == ("queued", None)
        assert run.name == ".github/workflows/d.yml"
        assert webhooks.arrived.empty()
    finally:
        sim.close()


def test_older_api_versions_get_204_unless_they_ask_for_the_run(
    github, github_url, shop, app_client
):
    token = app_client.rest.apps.create_installation_access_token(
        github.installation_id("acme")
    ).parsed_data.token
    url = f"{github_url}/repos/acme/shop/actions/workflows/vmkit-deploy.yml/dispatches"
    auth = {"Authorization": f"token {token}"}

    plain = httpx.post(url, json={"ref": "main", "inputs": {"deploy_id": "a"}}, headers=auth)
    asked = httpx.post(
        url,
        json={"ref": "main", "inputs": {"deploy_id": "b"}, "return_run_details": True},
        headers=auth,
    )
    no_ref = httpx.post(url, json={"inputs": {}}, headers=auth)

    assert (plain.status_code, plain.content) == (204, b"")
    assert asked.status_code == 200 and asked.json()["workflow_run_id"] > 0
    assert no_ref.json()["message"] == 'Invalid request.\n\n"ref" wasn\'t supplied.'
    assert github.wait_idle(10)
