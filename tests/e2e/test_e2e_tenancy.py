"""Two people, two workspaces, one GitHub App: who may use which repo is decided by who
holds the App's installation, proven through GitHub itself. Public APIs only: the REST
API as a browser and a key holder use it, and GitHub (the simulator) as its users do.
"""

from __future__ import annotations

import shutil
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from tests.e2e.conftest import SAMPLE_APP, Local, ok
from vmkit.models import RepoAccess

pytestmark = pytest.mark.e2e


def sign_in(local: Local, login: str) -> httpx.Client:
    """`login` signs in to VMKit with GitHub, as a browser would; returns their session."""
    github = local.cloud.github
    github.signed_in_user = login
    rest = local.stack.app_urls["rest"]
    browser = httpx.Client(base_url=rest, timeout=30)
    start = browser.get("/api/auth/login")
    assert start.status_code == 302
    state_cookie = start.cookies["vmkit_oauth_state"]
    at_github = httpx.get(start.headers["location"])  # GitHub: "authorize VMKit?" yes
    assert at_github.status_code == 302
    back = urlparse(at_github.headers["location"])
    query = {k: v[0] for k, v in parse_qs(back.query).items()}
    done = browser.get(
        "/api/auth/callback", params=query, cookies={"vmkit_oauth_state": state_cookie}
    )
    assert done.status_code == 302, done.text
    browser.cookies.set("vmkit_session", done.cookies["vmkit_session"])
    return browser


def install_on(local: Local, browser: httpx.Client, org: str) -> int:
    """From VMKit's install link through GitHub's install page back to the setup URL."""
    github = local.cloud.github
    link = ok(browser.get("/api/installations/install-url"))["url"]
    page = httpx.get(f"{link}&target_id={github.account_id(org)}")  # the org picked on the page
    assert page.status_code == 302, page.text
    setup = urlparse(page.headers["location"])
    assert setup.path == "/api/github/setup"
    landed = browser.get(f"{setup.path}?{setup.query}")
    assert landed.status_code == 302 and landed.headers["location"].startswith("/settings/github")
    return int(parse_qs(setup.query)["installation_id"][0])


def error_code(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    return response.json()["error"]["code"]


@pytest.fixture
def initech(local: Local, tmp_path):
    github = local.cloud.github
    for login in ("alice", "bob"):
        github.add_user(login)
    github.add_org("initech", members=["alice", "bob"])
    source = tmp_path / "payroll"
    shutil.copytree(SAMPLE_APP, source)
    github.create_repo("initech", "payroll", source_dir=source, install_app=False)
    return "initech/payroll"


def test_only_the_workspace_holding_the_installation_uses_its_repos(local: Local, initech):
    alice, bob = sign_in(local, "alice"), sign_in(local, "bob")
    assert (
        ok(alice.get("/api/auth/me"))["workspace_id"] != ok(bob.get("/api/auth/me"))["workspace_id"]
    )

    # Alice installs the App on initech and her workspace claims it on the way back.
    installation_id = install_on(local, alice, "initech")
    assert [i["id"] for i in ok(alice.get("/api/installations"))["items"]] == [installation_id]
    repo = ok(alice.post("/api/repos", json={"full_name": initech}))
    assert repo["installation_id"] == installation_id
    target = ok(alice.post("/api/compute-targets", json={"name": "here", "provider": "local"}))
    env = ok(
        alice.post(
            "/api/environments",
            json={"repo_id": repo["id"], "name": "production", "compute_target_id": target["id"]},
        )
    )

    # Bob sees the installation on GitHub (he is an initech member) but cannot use it.
    visible = ok(bob.get("/api/installations/available"))["items"]
    assert [(i["id"], i["claimed_elsewhere"]) for i in visible] == [(installation_id, True)]
    assert error_code(bob.post("/api/repos", json={"full_name": initech}), 403) == (
        "installation_not_yours"
    )
    named = bob.post("/api/repos", json={"full_name": initech, "installation_id": installation_id})
    assert error_code(named, 403) == "installation_not_yours"
    claim = bob.post("/api/installations/claim", json={"installation_id": installation_id})
    assert error_code(claim, 409) == "installation_claimed"
    # …nor reach Alice's repo or environment by their ids
    assert error_code(bob.post(f"/api/repos/{repo['id']}/scan"), 404) == "not_found"
    assert error_code(bob.post(f"/api/repos/{repo['id']}/onboard", json={}), 404) == "not_found"
    deploy = bob.post(f"/api/environments/{env['id']}/deploys", json={})
    assert error_code(deploy, 404) == "not_found"

    # Alice lets go; Bob claims it with his GitHub sign-in and connects the repo.
    assert alice.delete(f"/api/installations/{installation_id}").status_code == 204
    assert ok(alice.get(f"/api/repos/{repo['id']}"))["access"] == RepoAccess.removed.value
    refused = alice.post(f"/api/environments/{env['id']}/deploys", json={})
    assert error_code(refused, 403) == "repo_removed"
    claimed = ok(bob.post("/api/installations/claim", json={"installation_id": installation_id}))
    assert claimed["claimed_via"] == "github_user"
    bobs = ok(bob.post("/api/repos", json={"full_name": initech}))
    scan = ok(bob.post(f"/api/repos/{bobs['id']}/scan"))
    assert scan["language"] == "python"

    # Uninstalling the App on GitHub stops the repo with the reason, through the webhook.
    local.cloud.github.uninstall(installation_id)
    assert local.cloud.github.wait_idle(20)
    after = ok(bob.get(f"/api/repos/{bobs['id']}"))
    assert after["access"] == "removed" and "uninstalled" in after["access_reason"]
    assert ok(bob.get("/api/installations"))["items"] == []


def test_an_installation_a_user_cannot_see_on_github_cannot_be_claimed(local: Local):
    github = local.cloud.github
    github.add_user("mallory")
    github.add_user("carol")
    github.add_org("umbrella", members=["carol"])
    installation_id = github.install_app("umbrella")
    mallory = sign_in(local, "mallory")  # not an umbrella member
    claim = mallory.post("/api/installations/claim", json={"installation_id": installation_id})
    assert error_code(claim, 403) == "installation_not_yours"
    forged_setup = mallory.get(
        "/api/github/setup", params={"installation_id": installation_id, "state": "forged.state"}
    )
    assert error_code(forged_setup, 401) == "bad_install_state"
