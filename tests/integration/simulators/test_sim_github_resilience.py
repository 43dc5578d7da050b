"""GitHub simulator: injected rate limits and server errors, and state across a restart."""

from __future__ import annotations

import base64

import httpx
import pytest
from githubkit import AppAuthStrategy, GitHub, TokenAuthStrategy
from githubkit.cache import MemCacheStrategy
from githubkit.exception import PrimaryRateLimitExceeded, RequestFailed
from nacl.public import PublicKey, SealedBox

from vmkit_local.simulators.github import GitHubSimulator


def test_githubkit_retries_an_injected_rate_limit(github, gh, shop):
    github.faults.inject("/repos/acme/shop", 429, method="GET", retry_after=1)

    assert gh.rest.repos.get("acme", "shop").parsed_data.name == "shop"
    assert github.faults.pending() == []


def test_rate_limits_and_server_errors_reach_a_client_that_does_not_retry(github, github_url, shop):
    app = GitHub(
        AppAuthStrategy(str(github.app_id), github.app_private_key_pem),
        base_url=github_url,
        auto_retry=False,
        cache_strategy=MemCacheStrategy(),
    )
    gh = app.with_auth(app.auth.as_installation(github.installation_id("acme")))
    gh.rest.repos.get("acme", "shop")  # fetches the installation token first

    github.faults.inject("/repos/acme/*", 429, retry_after=30)
    with pytest.raises(PrimaryRateLimitExceeded) as limited:
        gh.rest.repos.get("acme", "shop")
    headers = limited.value.response.headers
    assert (headers["x-ratelimit-remaining"], headers["x-ratelimit-resource"]) == ("0", "core")
    assert 25 <= limited.value.retry_after.total_seconds() <= 30

    github.faults.inject("/repos/acme/shop/pulls", 502, times=2, method="POST")
    for _ in range(2):
        with pytest.raises(RequestFailed) as failed:
            gh.rest.pulls.create("acme", "shop", title="t", head="x", base="main")
        assert failed.value.response.status_code == 502
        assert failed.value.response.json()["message"] == "Server Error"
    with pytest.raises(RequestFailed) as validation:
        gh.rest.pulls.create("acme", "shop", title="t", head="x", base="main")
    assert validation.value.response.status_code == 422  # the third call reaches the API


def test_faults_are_injected_over_http_too(github, github_url, gh, shop):
    admin = f"{github_url}/_sim/faults"
    assert httpx.post(admin, json={"route": "/repos/*", "status": 503}).status_code == 204
    assert httpx.get(admin).json()[0]["status"] == 503

    no_retry = GitHub(gh.auth, base_url=github_url, auto_retry=False)
    with pytest.raises(RequestFailed) as failed:
        no_retry.rest.repos.get("acme", "shop")
    assert failed.value.response.status_code == 503
    assert httpx.delete(admin).status_code == 204


def test_state_survives_a_restart_but_secret_values_do_not(
    tmp_path, github, gh, shop, app_client, runner, serve, webhooks
):
    # Given a repo with an open PR, a sealed secret, a finished run and an issued token,
    gh.rest.git.create_ref("acme", "shop", ref="refs/heads/feature", sha=shop.head_sha)
    gh.rest.repos.create_or_update_file_contents(
        "acme", "shop", "x.txt", message="x", content="eA==", branch="feature"
    )
    number = gh.rest.pulls.create("acme", "shop", title="T", head="feature", base="main")
    key = gh.rest.actions.get_repo_public_key("acme", "shop").parsed_data
    sealed = SealedBox(PublicKey(base64.b64decode(key.key))).encrypt(b"the-deploy-key")
    gh.rest.actions.create_or_update_repo_secret(
        "acme",
        "shop",
        "VMKIT_SSH_PRIVATE_KEY",
        encrypted_value=base64.b64encode(sealed).decode(),
        key_id=key.key_id,
    )
    gh.rest.actions.create_workflow_dispatch(
        "acme", "shop", "vmkit-deploy.yml", ref="main", inputs={"deploy_id": "one"}
    )
    assert github.wait_idle(10)
    token = app_client.rest.apps.create_installation_access_token(
        github.installation_id("acme")
    ).parsed_data.token
    pem = github.app_private_key_pem
    github.close()

    # when the simulator restarts on the same data directory,
    again = GitHubSimulator(data_dir=tmp_path, run_workflow=runner)
    try:
        url = serve(again.app)
        same_token = GitHub(TokenAuthStrategy(token), base_url=url)

        # the App key, the token, the PR, the secret's name, the key id and the run remain,
        assert again.app_private_key_pem == pem
        pull = same_token.rest.pulls.get("acme", "shop", number.parsed_data.number).parsed_data
        assert pull.title == "T"
        secrets = same_token.rest.actions.list_repo_secrets("acme", "shop").parsed_data.secrets
        assert [secret.name for secret in secrets] == ["VMKIT_SSH_PRIVATE_KEY"]
        assert same_token.rest.actions.get_repo_public_key("acme", "shop").parsed_data.key_id == (
            key.key_id
        )
        runs = same_token.rest.actions.list_workflow_runs_for_repo("acme", "shop").parsed_data
        assert [run.conclusion for run in runs.workflow_runs] == ["success"]

        # but the secret's value was in memory only: the next run says so.
        run_id = same_token.rest.actions.create_workflow_dispatch(
            "acme", "shop", "vmkit-deploy.yml", ref="main", inputs={"deploy_id": "two"}
        ).parsed_data.workflow_run_id
        assert again.wait_idle(10)
        assert runner.calls[-1].secrets == {}
        assert "VMKIT_SSH_PRIVATE_KEY was set before the simulator restarted" in again.run_log(
            run_id
        )
        second = same_token.rest.actions.get_workflow_run("acme", "shop", run_id).parsed_data
        assert second.run_number == 2
    finally:
        again.close()
    snapshot = (tmp_path / "github" / "state.json").read_text()
    assert "the-deploy-key" not in snapshot and token not in snapshot
