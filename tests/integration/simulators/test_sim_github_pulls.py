"""GitHub simulator: pull requests opened and merged through githubkit, and their webhooks."""

from __future__ import annotations

import base64
import json
import subprocess

import httpx
import pytest
from githubkit.exception import RequestFailed
from githubkit.webhooks import parse as parse_webhook

from tests.support.octokit import octokit_example


def failure(call) -> tuple[int, dict]:
    with pytest.raises(RequestFailed) as caught:
        call()
    return caught.value.response.status_code, caught.value.response.json()


def branch_with_file(gh, shop, branch: str, path: str, text: str) -> str:
    gh.rest.git.create_ref("acme", "shop", ref=f"refs/heads/{branch}", sha=shop.head_sha)
    put = gh.rest.repos.create_or_update_file_contents(
        "acme",
        "shop",
        path,
        message=f"Add {path}",
        content=base64.b64encode(text.encode()).decode(),
        branch=branch,
    )
    return put.parsed_data.commit.sha


def open_pull(gh, head: str = "vmkit/onboarding", title: str = "Deploy with VMKit"):
    return gh.rest.pulls.create(
        "acme", "shop", title=title, head=head, base="main", body="Adds the deploy workflow"
    ).parsed_data


def test_open_and_merge_makes_a_real_merge_commit_and_signed_webhooks(github, gh, shop, webhooks):
    # Given a branch with a commit and a PR from it,
    head = branch_with_file(gh, shop, "vmkit/onboarding", "config/deploy.yml", "service: shop\n")
    pull = open_pull(gh)
    assert (pull.number, pull.state) == (1, "open")
    assert (pull.mergeable, pull.mergeable_state) == (True, "clean")
    assert (pull.head.sha, pull.base.sha, pull.commits, pull.changed_files) == (
        head,
        shop.head_sha,
        1,
        1,
    )
    opened = webhooks.next()
    assert (opened.event, json.loads(opened.body)["action"]) == ("pull_request", "opened")

    # when it is merged,
    merged = gh.rest.pulls.merge("acme", "shop", pull.number, sha=head).parsed_data

    # the base branch has a merge commit of both sides with the file,
    assert merged.merged and merged.message == "Pull Request successfully merged"
    main = gh.rest.repos.get_branch("acme", "shop", "main").parsed_data.commit
    assert main.sha == merged.sha
    assert [parent.sha for parent in main.parents] == [shop.head_sha, head]
    assert main.commit.message.startswith("Merge pull request #1 from acme/vmkit/onboarding")
    assert (
        subprocess.run(
            ["git", f"--git-dir={shop.git_dir}", "show", "main:config/deploy.yml"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        == "service: shop\n"
    )
    after = gh.rest.pulls.get("acme", "shop", pull.number).parsed_data
    assert (after.state, after.merged) == ("closed", True)
    assert after.merged_by.login == "vmkit-local[bot]"

    # and a signed pull_request closed+merged webhook arrives, in GitHub's shape.
    closed = webhooks.next()
    assert closed.event == "pull_request"
    assert closed.signature_verifies()
    assert closed.headers["user-agent"].startswith("GitHub-Hookshot/")
    assert closed.headers["content-type"] == "application/json"
    event = parse_webhook("pull_request", closed.body)
    assert (event.action, event.pull_request.merged, event.number) == ("closed", True, 1)
    assert json.loads(closed.body)["pull_request"]["merge_commit_sha"] == merged.sha
    assert event.installation.id == github.installation_id("acme")
    example = octokit_example("pull_request", "closed")
    payload = json.loads(closed.body)
    assert set(example) <= set(payload)
    assert set(example["pull_request"]) <= set(payload["pull_request"])
    assert set(example["repository"]) <= set(payload["repository"])


def test_a_redelivery_repeats_the_delivery_id(github, gh, shop, webhooks):
    branch_with_file(gh, shop, "feature", "a.txt", "a\n")
    open_pull(gh, head="feature")
    first = webhooks.next()

    again = github.redeliver(first.delivery)

    repeated = webhooks.next()
    assert repeated.delivery == first.delivery
    assert repeated.body == first.body
    assert repeated.signature_verifies()
    assert again.redelivery
    assert github.wait_idle(10)
    pulls = [d for d in github.deliveries() if d.event == "pull_request"]
    assert [d.guid for d in pulls] == [first.delivery, first.delivery]
    assert all(d.status_code == 204 for d in pulls)


def test_failed_deliveries_are_recorded_not_retried(github, gh, shop, webhooks):
    webhooks.status = 500
    branch_with_file(gh, shop, "feature", "a.txt", "a\n")
    open_pull(gh, head="feature")

    webhooks.next()
    assert github.wait_idle(10)

    [installed, delivery] = github.deliveries()
    assert installed.event == "installation"
    assert (delivery.event, delivery.action, delivery.status_code) == (
        "pull_request",
        "opened",
        500,
    )


def test_pull_requests_are_listed_with_filters(gh, shop):
    branch_with_file(gh, shop, "one", "1.txt", "1\n")
    branch_with_file(gh, shop, "two", "2.txt", "2\n")
    first = open_pull(gh, head="one", title="One")
    open_pull(gh, head="acme:two", title="Two")
    gh.rest.pulls.update("acme", "shop", first.number, state="closed")

    def titles(**filters) -> list[str]:
        return [p.title for p in gh.rest.pulls.list("acme", "shop", **filters).parsed_data]

    assert titles() == ["Two"]
    assert titles(state="all") == ["Two", "One"]
    assert titles(state="closed", head="acme:one") == ["One"]
    assert titles(state="all", base="main", direction="asc") == ["One", "Two"]
    assert titles(head="other:two") == []


def test_closing_without_merging_sends_closed_not_merged(gh, shop, webhooks):
    branch_with_file(gh, shop, "feature", "a.txt", "a\n")
    pull = open_pull(gh, head="feature")
    webhooks.next()

    closed = gh.rest.pulls.update("acme", "shop", pull.number, state="closed").parsed_data

    assert (closed.state, closed.merged) == ("closed", False)
    event = parse_webhook("pull_request", webhooks.next().body)
    assert (event.action, event.pull_request.merged) == ("closed", False)
    reopened = gh.rest.pulls.update("acme", "shop", pull.number, state="open").parsed_data
    assert reopened.state == "open"


def test_invalid_pull_requests_are_refused(gh, shop):
    missing = failure(lambda: gh.rest.pulls.create("acme", "shop", title="t", head="", base="main"))
    assert missing == (
        422,
        {
            "message": "Validation Failed",
            "errors": [{"resource": "PullRequest", "code": "missing_field", "field": "head"}],
            "documentation_url": "https://docs.github.com/rest",
            "status": "422",
        },
    )
    unknown = failure(
        lambda: gh.rest.pulls.create("acme", "shop", title="t", head="nope", base="main")
    )
    assert unknown[1]["errors"] == [{"resource": "PullRequest", "code": "invalid", "field": "head"}]

    gh.rest.git.create_ref("acme", "shop", ref="refs/heads/same", sha=shop.head_sha)
    empty = failure(
        lambda: gh.rest.pulls.create("acme", "shop", title="t", head="same", base="main")
    )
    assert empty[1]["errors"][0]["message"] == "No commits between main and same"

    branch_with_file(gh, shop, "feature", "a.txt", "a\n")
    open_pull(gh, head="feature")
    duplicate = failure(lambda: open_pull(gh, head="feature"))
    assert duplicate[1]["errors"][0]["message"] == "A pull request already exists for acme:feature."
    assert failure(lambda: gh.rest.pulls.get("acme", "shop", 99))[0] == 404


def test_merging_refuses_conflicts_stale_heads_rebase_and_twice(gh, shop):
    branch_with_file(gh, shop, "left", "same.txt", "left\n")
    right_head = branch_with_file(gh, shop, "right", "same.txt", "right\n")
    left = open_pull(gh, head="left", title="Left")
    right = open_pull(gh, head="right", title="Right")

    stale = failure(lambda: gh.rest.pulls.merge("acme", "shop", left.number, sha="0" * 40))
    assert stale[0] == 409
    assert stale[1]["message"] == "Head branch was modified. Review and try the merge again."
    rebase = failure(
        lambda: gh.rest.pulls.merge("acme", "shop", left.number, merge_method="rebase")
    )
    assert rebase[0] == 405

    gh.rest.pulls.merge("acme", "shop", left.number, merge_method="squash")
    squashed = gh.rest.repos.get_branch("acme", "shop", "main").parsed_data.commit
    assert len(squashed.parents) == 1
    assert squashed.commit.message.startswith("Left (#1)")

    conflicted = gh.rest.pulls.get("acme", "shop", right.number).parsed_data
    assert (conflicted.mergeable, conflicted.mergeable_state) == (False, "dirty")
    assert conflicted.head.sha == right_head
    not_mergeable = failure(lambda: gh.rest.pulls.merge("acme", "shop", right.number))
    assert not_mergeable[0] == 405
    assert not_mergeable[1]["message"] == "Pull Request is not mergeable"
    assert failure(lambda: gh.rest.pulls.merge("acme", "shop", left.number))[0] == 405


def test_rest_shapes_follow_the_requested_api_version(github, gh, shop, github_url, app_client):
    branch_with_file(gh, shop, "feature", "a.txt", "a\n")
    number = open_pull(gh, head="feature").number
    merge_sha = gh.rest.pulls.merge("acme", "shop", number).parsed_data.sha
    token = app_client.rest.apps.create_installation_access_token(
        github.installation_id("acme")
    ).parsed_data.token
    url = f"{github_url}/repos/acme/shop/pulls/{number}"

    def pull_with(version: str | None) -> dict:
        headers = {"Authorization": f"token {token}"}
        if version:
            headers["X-GitHub-Api-Version"] = version
        return httpx.get(url, headers=headers).json()

    # 2026-03-10 (what githubkit asks for) dropped merge_commit_sha and assignee,
    current = pull_with("2026-03-10")
    assert "merge_commit_sha" not in current and "assignee" not in current
    assert "has_downloads" not in current["base"]["repo"]
    # the default version still has them.
    legacy = pull_with(None)
    assert legacy["merge_commit_sha"] == merge_sha
    assert legacy["base"]["repo"]["has_downloads"] is True
