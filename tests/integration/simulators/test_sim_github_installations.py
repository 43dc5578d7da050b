"""GitHub simulator: accounts, installations, who sees which, the install page, lifecycle."""

from __future__ import annotations

import base64
import json
import threading
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from githubkit import GitHub, OAuthWebAuthStrategy
from githubkit.exception import RequestFailed
from githubkit.webhooks import parse as parse_webhook

from tests.support.octokit import octokit_examples
from vmkit_local.simulators.github import GitHubSimulator

SETUP_URL = "http://127.0.0.1:9/api/github/setup"


def failure(call) -> tuple[int, str]:
    with pytest.raises(RequestFailed) as caught:
        call()
    return caught.value.response.status_code, caught.value.response.json()["message"]


def sign_in(github: GitHubSimulator, github_url: str, login: str) -> GitHub:
    """`login` signs in on the web host and authorizes the App; githubkit holds their token."""
    github.signed_in_user = login
    callback = "http://127.0.0.1:9/api/auth/github/callback"
    redirect = httpx.get(
        f"{github_url}/login/oauth/authorize",
        params={"client_id": github.client_id, "redirect_uri": callback, "state": "s"},
    )
    code = parse_qs(urlparse(redirect.headers["location"]).query)["code"][0]
    auth = OAuthWebAuthStrategy(github.client_id, github.client_secret, code, callback)
    return GitHub(auth, base_url=github_url)


def as_installation(app_client: GitHub, installation_id: int) -> GitHub:
    return app_client.with_auth(app_client.auth.as_installation(installation_id))


def next_event(webhooks, event: str, action: str):
    """The next delivery, which must be `event` with `action`, parsed by githubkit."""
    hook = webhooks.next()
    assert hook.signature_verifies()
    parsed = parse_webhook(event, hook.body)
    assert (hook.event, parsed.action) == (event, action)
    return parsed, json.loads(hook.body)


def nothing_more_arrives(github: GitHubSimulator, webhooks) -> bool:
    assert github.wait_idle(10)
    return webhooks.arrived.empty()


def repo_names(listing) -> list[str]:
    return [repo.full_name for repo in listing.repositories]


def empty_repo(github: GitHubSimulator, owner: str, name: str, **options):
    return github.create_repo(owner, name, {"README.md": f"# {name}\n"}, **options)


@pytest.fixture
def people(github: GitHubSimulator):
    """alice and bob; alice is a member of the initech organization, bob of nothing."""
    github.add_user("alice", name="Alice")
    github.add_user("bob", name="Bob")
    github.add_org("initech", members=["alice"])
    return github


# -- accounts and installations -----------------------------------------------------------


def test_the_app_installs_on_users_and_organizations(people, app_client, webhooks):
    github = people
    empty_repo(github, "initech", "tps", install_app=False)
    empty_repo(github, "alice", "blog", install_app=False)
    empty_repo(github, "alice", "site", install_app=False)

    org_installation = github.install_app("initech")
    user_installation = github.install_app("alice", ["blog"])

    org = app_client.rest.apps.get_org_installation("initech").parsed_data
    assert (org.id, org.account.login, org.account.type) == (
        org_installation,
        "initech",
        "Organization",
    )
    assert (org.target_type, org.repository_selection, org.suspended_at) == (
        "Organization",
        "all",
        None,
    )
    user = app_client.rest.apps.get_user_installation("alice").parsed_data
    assert (user.id, user.account.type, user.repository_selection) == (
        user_installation,
        "User",
        "selected",
    )
    assert user.target_id == github.account_id("alice")
    assert failure(lambda: app_client.rest.apps.get_org_installation("alice"))[0] == 404
    assert failure(lambda: app_client.rest.apps.get_user_installation("bob"))[0] == 404
    listed = app_client.rest.apps.list_installations().parsed_data
    assert [i.id for i in listed] == [org_installation, user_installation]

    # Each install tells the App, from whoever installed (an org's first member by default).
    created, payload = next_event(webhooks, "installation", "created")
    assert (created.installation.id, created.sender.login) == (org_installation, "alice")
    assert [repo.full_name for repo in created.repositories] == ["initech/tps"]
    created, payload = next_event(webhooks, "installation", "created")
    assert created.installation.repository_selection == "selected"
    assert [repo.full_name for repo in created.repositories] == ["alice/blog"]
    assert payload["requester"] is None


def test_a_selected_installation_reaches_only_its_repositories(people, app_client):
    github = people
    empty_repo(github, "alice", "blog", install_app=False)
    site = empty_repo(github, "alice", "site", install_app=False)
    installation_id = github.install_app("alice", ["blog"])
    gh = as_installation(app_client, installation_id)

    assert gh.rest.repos.get("alice", "blog").parsed_data.full_name == "alice/blog"
    assert failure(lambda: gh.rest.repos.get("alice", "site")) == (404, "Not Found")
    listing = gh.rest.apps.list_repos_accessible_to_installation().parsed_data
    assert (listing.total_count, listing.repository_selection) == (1, "selected")
    assert repo_names(listing) == ["alice/blog"]

    assert app_client.rest.apps.get_repo_installation("alice", "blog").parsed_data.id == (
        installation_id
    )
    assert failure(lambda: app_client.rest.apps.get_repo_installation("alice", "site"))[0] == 404
    for outside in ({"repositories": ["site"]}, {"repository_ids": [site.id]}):
        status, message = failure(
            lambda outside=outside: app_client.rest.apps.create_installation_access_token(
                installation_id, **outside
            )
        )
        assert status == 422
        assert "not accessible to the parent installation" in message


def test_an_installation_on_all_repositories_includes_later_ones(people, app_client):
    github = people
    empty_repo(github, "initech", "tps", install_app=False)
    gh = as_installation(app_client, github.install_app("initech"))

    empty_repo(github, "initech", "later", install_app=False)

    listing = gh.rest.apps.list_repos_accessible_to_installation().parsed_data
    assert (listing.repository_selection, repo_names(listing)) == (
        "all",
        ["initech/later", "initech/tps"],
    )
    assert gh.rest.repos.get("initech", "later").parsed_data.name == "later"


def test_a_token_limited_by_repository_ids_sees_only_those(people, app_client):
    github = people
    blog = empty_repo(github, "alice", "blog", install_app=False)
    empty_repo(github, "alice", "site", install_app=False)
    installation_id = github.install_app("alice")

    token = app_client.rest.apps.create_installation_access_token(
        installation_id, repository_ids=[blog.id]
    ).parsed_data
    assert token.repository_selection == "selected"
    assert [repo.full_name for repo in token.repositories] == ["alice/blog"]
    limited = GitHub(token.token, base_url=str(app_client.config.base_url))
    listing = limited.rest.apps.list_repos_accessible_to_installation().parsed_data
    assert (listing.repository_selection, repo_names(listing)) == ("selected", ["alice/blog"])
    assert failure(lambda: limited.rest.repos.get("alice", "site"))[0] == 404


def test_bad_installs_are_refused_and_change_nothing(people, app_client, webhooks):
    github = people
    empty_repo(github, "alice", "blog", install_app=False)
    installation_id = github.install_app("alice", ["blog"])
    next_event(webhooks, "installation", "created")
    before = app_client.rest.apps.list_installations().parsed_data

    refusals = {
        "already installed on alice": lambda: github.install_app("alice"),
        "nobody is not a user or an organization": lambda: github.install_app("nobody"),
        "vmkit-local[bot] is not a user": lambda: github.install_app("vmkit-local[bot]"),
        "needs at least one": lambda: github.install_app("bob", []),
        "bob/blog does not exist": lambda: github.install_app("bob", ["blog"]),
        "a list of names": lambda: github.install_app("initech", "tps"),
        "there is no user mallory": lambda: github.install_app("bob", by="mallory"),
        "there is no installation 4242": lambda: github.suspend(4242),
        "bob is a User, not an organization": lambda: github.add_org("bob"),
        "there is no organization globex": lambda: github.add_org_member("globex", "bob"),
        "only users join organizations": lambda: github.add_org_member("initech", "initech"),
    }
    for message, refused in refusals.items():
        with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
            refused()

    after = app_client.rest.apps.list_installations().parsed_data
    assert [i.model_dump() for i in after] == [i.model_dump() for i in before]
    assert [i.id for i in after] == [installation_id]
    assert github.state.user("bob")["type"] == "User"
    assert nothing_more_arrives(github, webhooks)


# -- what users see ---------------------------------------------------------------------


def test_users_see_the_installations_of_their_account_and_their_orgs(
    people, github_url, app_client
):
    github = people
    github.add_org("globex", members=["bob"])
    for owner in ("alice", "initech", "bob", "globex"):
        empty_repo(github, owner, "repo", install_app=False)
    ids = {owner: github.install_app(owner) for owner in ("alice", "initech", "bob", "globex")}

    alice = sign_in(github, github_url, "alice")
    bob = sign_in(github, github_url, "bob")  # (the browser is now bob's)

    assert alice.rest.users.get_authenticated().parsed_data.login == "alice"
    assert bob.rest.users.get_authenticated().parsed_data.login == "bob"
    mine = alice.rest.apps.list_installations_for_authenticated_user().parsed_data
    assert mine.total_count == 2
    assert [i.id for i in mine.installations] == [ids["alice"], ids["initech"]]
    assert [i.account.type for i in mine.installations] == ["User", "Organization"]
    theirs = bob.rest.apps.list_installations_for_authenticated_user().parsed_data
    assert [i.id for i in theirs.installations] == [ids["bob"], ids["globex"]]

    # Membership decides, at the time of asking.
    github.add_org_member("initech", "bob")
    theirs = bob.rest.apps.list_installations_for_authenticated_user().parsed_data
    assert {i.id for i in theirs.installations} == {ids["bob"], ids["initech"], ids["globex"]}
    github.remove_org_member("initech", "bob")
    theirs = bob.rest.apps.list_installations_for_authenticated_user().parsed_data
    assert ids["initech"] not in {i.id for i in theirs.installations}

    # The installation's repositories, to those who may see the installation only.
    repos = alice.rest.apps.list_installation_repos_for_authenticated_user(ids["initech"])
    assert (repos.parsed_data.total_count, repo_names(repos.parsed_data)) == (1, ["initech/repo"])
    assert repos.parsed_data.repository_selection == "all"
    status = failure(
        lambda: bob.rest.apps.list_installation_repos_for_authenticated_user(ids["initech"])
    )
    assert status == (404, "Not Found")
    unknown = failure(lambda: bob.rest.apps.list_installation_repos_for_authenticated_user(1))
    assert unknown[0] == 404


def test_user_installations_are_paginated_with_a_total(people, github_url):
    github = people
    github.add_org("globex", members=["alice"])
    for owner in ("alice", "initech", "globex"):
        github.install_app(owner)
    alice = sign_in(github, github_url, "alice")

    first = alice.rest.apps.list_installations_for_authenticated_user(per_page=2)
    second = alice.rest.apps.list_installations_for_authenticated_user(per_page=2, page=2)

    assert first.parsed_data.total_count == second.parsed_data.total_count == 3
    assert len(first.parsed_data.installations) == 2
    assert [i.account.login for i in second.parsed_data.installations] == ["globex"]
    assert 'rel="next"' in first.headers["link"]
    assert "page=2" in first.headers["link"]
    assert 'rel="prev"' in second.headers["link"]


def test_user_installations_need_a_user_token(people, app_client, github_url):
    github = people
    installation_id = github.install_app("alice")
    gh = as_installation(app_client, installation_id)
    assert failure(lambda: gh.rest.apps.list_installations_for_authenticated_user()) == (
        403,
        "Resource not accessible by integration",
    )
    assert httpx.get(f"{github_url}/user/installations").status_code == 401
    alice = sign_in(github, github_url, "alice")
    assert failure(lambda: alice.rest.apps.list_repos_accessible_to_installation()) == (
        403,
        "This endpoint can only be accessed with an installation token",
    )


def test_a_users_token_reaches_repos_both_they_and_an_installation_reach(people, github_url):
    github = people
    empty_repo(github, "initech", "tps", install_app=False)
    empty_repo(github, "initech", "docs", install_app=False)
    github.install_app("initech", ["tps"])
    alice, bob = sign_in(github, github_url, "alice"), sign_in(github, github_url, "bob")

    assert alice.rest.repos.get("initech", "tps").parsed_data.name == "tps"
    assert failure(lambda: alice.rest.repos.get("initech", "docs"))[0] == 404  # not installed
    assert failure(lambda: bob.rest.repos.get("initech", "tps"))[0] == 404  # not a member


# -- the install page ---------------------------------------------------------------------


def install_page(github_url: str, **params) -> httpx.Response:
    return httpx.get(f"{github_url}/apps/vmkit-local/installations/new", params=params)


def setup_redirect(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = urlparse(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == SETUP_URL
    return {key: values[0] for key, values in parse_qs(location.query).items()}


def test_the_install_page_installs_for_the_signed_in_user_then_goes_to_the_setup_url(
    people, github_url, webhooks
):
    github = people
    github.configure_setup_url(SETUP_URL)
    empty_repo(github, "alice", "blog", install_app=False)
    github.signed_in_user = "alice"

    first = setup_redirect(install_page(github_url, state="st&te=1 2"))

    installation_id = github.installation_id("alice")
    assert first == {
        "installation_id": str(installation_id),
        "setup_action": "install",
        "state": "st&te=1 2",
    }
    created, _ = next_event(webhooks, "installation", "created")
    assert (created.installation.id, created.sender.login) == (installation_id, "alice")
    assert created.installation.repository_selection == "all"

    # The page again finds the installation; GitHub calls that an update.
    again = setup_redirect(install_page(github_url, state="second"))
    assert again == {
        "installation_id": str(installation_id),
        "setup_action": "update",
        "state": "second",
    }
    assert nothing_more_arrives(github, webhooks)


def test_the_install_page_installs_on_an_org_the_user_is_a_member_of(people, github_url, webhooks):
    github = people
    github.configure_setup_url(SETUP_URL)
    github.add_org("globex", members=["bob"])
    github.signed_in_user = "alice"

    to_org = setup_redirect(install_page(github_url, target_id=github.account_id("initech")))

    assert to_org["installation_id"] == str(github.installation_id("initech"))
    assert "state" not in to_org
    created, _ = next_event(webhooks, "installation", "created")
    assert (created.installation.account.login, created.sender.login) == ("initech", "alice")

    # An account alice does not act for is refused, and nothing is installed.
    for target in (github.account_id("globex"), github.account_id("bob"), 99999, "x"):
        refused = install_page(github_url, target_id=target, state="s")
        assert refused.status_code == 404
        assert "Not Found" in refused.text
    assert httpx.get(f"{github_url}/apps/other-app/installations/new").status_code == 404
    assert (github.installation_id("globex"), github.installation_id("bob")) == (None, None)
    assert nothing_more_arrives(github, webhooks)


def test_the_install_page_can_select_repositories(people, github_url, webhooks, app_client):
    github = people
    github.configure_setup_url(SETUP_URL)
    notes = empty_repo(github, "bob", "notes", install_app=False)
    empty_repo(github, "bob", "diary", install_app=False)
    github.signed_in_user = "bob"

    setup_redirect(install_page(github_url, **{"repository_ids[]": notes.id}))

    installation = app_client.rest.apps.get_user_installation("bob").parsed_data
    assert installation.repository_selection == "selected"
    gh = as_installation(app_client, installation.id)
    listing = gh.rest.apps.list_repos_accessible_to_installation().parsed_data
    assert repo_names(listing) == ["bob/notes"]
    assert install_page(github_url, **{"repository_ids[]": 1}).status_code == 404
    assert next_event(webhooks, "installation", "created")[0].installation.id == installation.id
    assert nothing_more_arrives(github, webhooks)


def test_without_a_setup_url_the_install_page_says_what_it_installed(people, github_url):
    github = people
    github.signed_in_user = "bob"

    page = install_page(github_url, state="s")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert f"installed on bob (installation {github.installation_id('bob')})" in page.text


# -- lifecycle ------------------------------------------------------------------------------


def installed_and_used(github, app_client, webhooks, owner: str, name: str):
    """`owner/name` with the App installed, and the installation's githubkit client, whose
    token is issued (and cached) by reading the repository."""
    empty_repo(github, owner, name)
    next_event(webhooks, "installation", "created")
    installation_id = github.installation_id(owner)
    gh = as_installation(app_client, installation_id)
    assert gh.rest.repos.get(owner, name).status_code == 200
    return installation_id, gh


def test_uninstalling_revokes_tokens_and_removes_the_installation_everywhere(
    people, app_client, github_url, webhooks
):
    github = people
    installation_id, gh = installed_and_used(github, app_client, webhooks, "alice", "blog")

    github.uninstall(installation_id)

    assert failure(lambda: gh.rest.repos.get("alice", "blog")) == (401, "Bad credentials")
    assert failure(lambda: app_client.rest.apps.get_installation(installation_id))[0] == 404
    assert app_client.rest.apps.list_installations().parsed_data == []
    assert failure(lambda: app_client.rest.apps.get_repo_installation("alice", "blog"))[0] == 404
    token = failure(lambda: app_client.rest.apps.create_installation_access_token(installation_id))
    assert token[0] == 404
    alice = sign_in(github, github_url, "alice")
    mine = alice.rest.apps.list_installations_for_authenticated_user().parsed_data
    assert (mine.total_count, mine.installations) == (0, [])
    deleted, _ = next_event(webhooks, "installation", "deleted")
    assert (deleted.installation.id, deleted.sender.login) == (installation_id, "alice")
    assert [repo.full_name for repo in deleted.repositories] == ["alice/blog"]
    with pytest.raises(ValueError, match=f"there is no installation {installation_id}"):
        github.uninstall(installation_id)

    # Installing again makes a new installation that works.
    again = github.install_app("alice")
    assert again != installation_id
    assert as_installation(app_client, again).rest.repos.get("alice", "blog").status_code == 200


def test_a_suspended_installation_answers_403_until_unsuspended(
    people, app_client, github_url, webhooks
):
    github = people
    installation_id, gh = installed_and_used(github, app_client, webhooks, "initech", "tps")

    github.suspend(installation_id, by="alice")
    github.suspend(installation_id)  # already suspended: nothing changes

    suspended = (403, "This installation has been suspended")
    assert failure(lambda: gh.rest.repos.get("initech", "tps")) == suspended
    assert failure(lambda: gh.rest.apps.list_repos_accessible_to_installation()) == suspended
    new_token = failure(
        lambda: app_client.rest.apps.create_installation_access_token(installation_id)
    )
    assert new_token == suspended
    shown = app_client.rest.apps.get_installation(installation_id).parsed_data
    assert shown.suspended_at is not None
    assert shown.suspended_by.login == "alice"
    assert [i.id for i in app_client.rest.apps.list_installations().parsed_data] == [
        installation_id
    ]
    alice = sign_in(github, github_url, "alice")
    listed = alice.rest.apps.list_installations_for_authenticated_user().parsed_data
    assert listed.installations[0].suspended_at is not None
    assert failure(lambda: alice.rest.repos.get("initech", "tps"))[0] == 404
    event, _ = next_event(webhooks, "installation", "suspend")
    assert (event.installation.suspended_by.login, event.sender.login) == ("alice", "alice")

    github.unsuspend(installation_id)

    assert gh.rest.repos.get("initech", "tps").status_code == 200
    assert app_client.rest.apps.get_installation(installation_id).parsed_data.suspended_at is None
    event, _ = next_event(webhooks, "installation", "unsuspend")
    assert event.installation.suspended_by is None
    assert nothing_more_arrives(github, webhooks)


def test_a_suspended_installation_hears_nothing_of_its_repositories(
    github, gh, shop, runner, webhooks
):
    runner.gate = threading.Event()
    gh.rest.actions.create_workflow_dispatch(
        "acme", "shop", "vmkit-deploy.yml", ref="main", inputs={"deploy_id": "d1"}
    )
    next_event(webhooks, "workflow_run", "requested")
    next_event(webhooks, "workflow_run", "in_progress")

    github.suspend(github.installation_id("acme"))
    next_event(webhooks, "installation", "suspend")
    runner.gate.set()

    assert nothing_more_arrives(github, webhooks)  # no workflow_run completed
    assert github.deliveries()[-1].event == "installation"


def test_repositories_added_and_removed_change_what_tokens_reach(people, app_client, webhooks):
    github = people
    for name in ("blog", "site", "wiki"):
        empty_repo(github, "alice", name, install_app=False)
    installation_id = github.install_app("alice", ["blog"])
    gh = as_installation(app_client, installation_id)
    assert gh.rest.repos.get("alice", "blog").status_code == 200
    next_event(webhooks, "installation", "created")

    github.set_installation_repositories(installation_id, add=["site", "blog"])

    added, payload = next_event(webhooks, "installation_repositories", "added")
    assert [repo.full_name for repo in added.repositories_added] == ["alice/site"]
    assert (added.repositories_removed, added.repository_selection) == ([], "selected")
    assert payload["installation"]["id"] == installation_id
    assert gh.rest.repos.get("alice", "site").status_code == 200

    github.set_installation_repositories(installation_id, remove=["blog"], by="alice")

    removed, _ = next_event(webhooks, "installation_repositories", "removed")
    assert [repo.full_name for repo in removed.repositories_removed] == ["alice/blog"]
    assert removed.sender.login == "alice"
    assert failure(lambda: gh.rest.repos.get("alice", "blog"))[0] == 404  # the same token
    listing = gh.rest.apps.list_repos_accessible_to_installation().parsed_data
    assert (listing.total_count, repo_names(listing)) == (1, ["alice/site"])
    assert failure(lambda: app_client.rest.apps.get_repo_installation("alice", "blog"))[0] == 404
    assert nothing_more_arrives(github, webhooks)


def test_removing_from_all_repositories_makes_a_selection(people, app_client, webhooks):
    github = people
    empty_repo(github, "initech", "tps", install_app=False)
    empty_repo(github, "initech", "docs", install_app=False)
    installation_id = github.install_app("initech")
    gh = as_installation(app_client, installation_id)
    next_event(webhooks, "installation", "created")

    github.set_installation_repositories(installation_id, remove=["docs"])

    removed, _ = next_event(webhooks, "installation_repositories", "removed")
    assert removed.repository_selection == "selected"
    assert [repo.full_name for repo in removed.repositories_removed] == ["initech/docs"]
    empty_repo(github, "initech", "later", install_app=False)
    assert failure(lambda: gh.rest.repos.get("initech", "later"))[0] == 404
    # create_repo(install_app=True) on a selection adds the new repository to it.
    empty_repo(github, "initech", "wanted")
    added, _ = next_event(webhooks, "installation_repositories", "added")
    assert [repo.full_name for repo in added.repositories_added] == ["initech/wanted"]
    listing = gh.rest.apps.list_repos_accessible_to_installation().parsed_data
    assert repo_names(listing) == ["initech/tps", "initech/wanted"]


def test_bad_repository_changes_are_refused_and_change_nothing(people, app_client, webhooks):
    github = people
    empty_repo(github, "alice", "blog", install_app=False)
    empty_repo(github, "alice", "site", install_app=False)
    installation_id = github.install_app("alice", ["blog"])
    next_event(webhooks, "installation", "created")
    before = app_client.rest.apps.get_installation(installation_id).parsed_data.model_dump()

    refusals = {
        "alice/nope does not exist": {"add": ["nope"]},
        "alice/site: both added and removed": {"add": ["site"], "remove": ["site"]},
        "needs at least one repository": {"remove": ["blog"]},
        "a list of names": {"add": "site"},
    }
    for message, change in refusals.items():
        with pytest.raises(ValueError, match=message):
            github.set_installation_repositories(installation_id, **change)
    with pytest.raises(ValueError, match="there is no installation 7"):
        github.set_installation_repositories(7, add=["site"])

    after = app_client.rest.apps.get_installation(installation_id).parsed_data.model_dump()
    assert after == before
    gh = as_installation(app_client, installation_id)
    listing = gh.rest.apps.list_repos_accessible_to_installation().parsed_data
    assert repo_names(listing) == ["alice/blog"]
    assert nothing_more_arrives(github, webhooks)


def test_the_app_suspends_and_deletes_installations_over_rest(people, app_client, webhooks):
    github = people
    installation_id = github.install_app("bob")
    next_event(webhooks, "installation", "created")

    assert app_client.rest.apps.suspend_installation(installation_id).status_code == 204
    event, _ = next_event(webhooks, "installation", "suspend")
    assert event.sender.login == "vmkit-local[bot]"
    assert app_client.rest.apps.unsuspend_installation(installation_id).status_code == 204
    next_event(webhooks, "installation", "unsuspend")
    assert app_client.rest.apps.delete_installation(installation_id).status_code == 204
    next_event(webhooks, "installation", "deleted")

    assert failure(lambda: app_client.rest.apps.delete_installation(installation_id))[0] == 404
    assert github.installation_id("bob") is None


# -- shapes and persistence -----------------------------------------------------------------


def test_installation_webhooks_have_githubs_shape(people, webhooks):
    github = people
    empty_repo(github, "initech", "tps", install_app=False)
    empty_repo(github, "initech", "docs", install_app=False)
    installation_id = github.install_app("initech", ["tps"])
    github.set_installation_repositories(installation_id, add=["docs"])
    github.set_installation_repositories(installation_id, remove=["docs"])
    github.suspend(installation_id)
    github.unsuspend(installation_id)
    github.uninstall(installation_id)
    sent = [
        ("installation", "created"),
        ("installation_repositories", "added"),
        ("installation_repositories", "removed"),
        ("installation", "suspend"),
        ("installation", "unsuspend"),
        ("installation", "deleted"),
    ]

    for event, action in sent:
        _, payload = next_event(webhooks, event, action)
        for example in octokit_examples(event, action):
            assert set(example) <= set(payload), (event, action)
            assert set(example["installation"]) <= set(payload["installation"])
            assert set(example["installation"]["account"]) <= set(
                payload["installation"]["account"]
            )
            assert set(example["sender"]) <= set(payload["sender"])
            for key in ("repositories", "repositories_added", "repositories_removed"):
                example_keys = {field for item in example.get(key, []) for field in item}
                assert all(example_keys <= set(item) for item in payload.get(key, []))
        assert payload["installation"]["account"]["type"] == "Organization"


def test_repository_events_carry_the_installation_reference(github, gh, shop, webhooks):
    gh.rest.git.create_ref("acme", "shop", ref="refs/heads/feature", sha=shop.head_sha)
    gh.rest.repos.create_or_update_file_contents(
        "acme",
        "shop",
        "a.txt",
        message="a",
        content=base64.b64encode(b"a").decode(),
        branch="feature",
    )
    gh.rest.pulls.create("acme", "shop", title="t", head="feature", base="main")

    _, payload = next_event(webhooks, "pull_request", "opened")

    installation_id = github.installation_id("acme")
    node_id = base64.b64encode(f"012:Installation{installation_id}".encode()).decode()
    assert payload["installation"] == {"id": installation_id, "node_id": node_id}


def test_accounts_and_installations_survive_a_restart(tmp_path, runner, serve):
    first = GitHubSimulator(data_dir=tmp_path, run_workflow=runner)
    try:
        first.add_org("initech", members=["alice"])
        empty_repo(first, "initech", "tps", install_app=False)
        empty_repo(first, "initech", "docs", install_app=False)
        installation_id = first.install_app("initech", ["tps"])
        first.suspend(installation_id, by="alice")
        key = first.app_private_key_pem
    finally:
        first.close()

    again = GitHubSimulator(data_dir=tmp_path, run_workflow=runner)
    try:
        url = serve(again.app)
        alice = sign_in(again, url, "alice")
        [installation] = (
            alice.rest.apps.list_installations_for_authenticated_user().parsed_data.installations
        )
        assert (installation.id, installation.repository_selection) == (installation_id, "selected")
        assert installation.suspended_by.login == "alice"
        assert again.app_private_key_pem == key
        again.unsuspend(installation_id)
        repos = alice.rest.apps.list_installation_repos_for_authenticated_user(installation_id)
        assert repo_names(repos.parsed_data) == ["initech/tps"]
    finally:
        again.close()
