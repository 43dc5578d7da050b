"""GitHub simulator: repos, contents, branches, commits and the git data API via githubkit."""

from __future__ import annotations

import base64
import subprocess

import httpx
import pytest
from githubkit.exception import RequestFailed

from vmkit_local.simulators.github import GitHubSimulator


def failure(call) -> tuple[int, dict]:
    with pytest.raises(RequestFailed) as caught:
        call()
    return caught.value.response.status_code, caught.value.response.json()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def git(git_dir, *args: str) -> str:
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", *args], capture_output=True, text=True, check=True
    ).stdout


def git_show(git_dir, spec: str) -> str:
    return git(git_dir, "show", spec)


def test_repo_and_its_files_read_like_github(gh, shop):
    repo = gh.rest.repos.get("acme", "shop").parsed_data
    assert (repo.full_name, repo.private, repo.default_branch) == ("acme/shop", True, "main")

    readme = gh.rest.repos.get_content("acme", "shop", "README.md").parsed_data
    assert readme.type == "file"
    assert base64.b64decode(readme.content) == b"# shop\n"
    assert readme.sha == git(shop.git_dir, "rev-parse", "main:README.md").strip()

    listing = gh.rest.repos.get_content("acme", "shop", ".github/workflows").parsed_data
    assert [(item.name, item.type) for item in listing] == [("vmkit-deploy.yml", "file")]
    root = gh.rest.repos.get_content("acme", "shop", "").parsed_data
    assert sorted(item.path for item in root) == [".github", "README.md", "app.py"]

    raw = gh.rest.repos.get_content(
        "acme", "shop", "app.py", headers={"Accept": "application/vnd.github.raw+json"}
    )
    assert raw.content == b"print('hello')\n"

    missing = failure(lambda: gh.rest.repos.get_content("acme", "shop", "nope.txt"))
    assert missing[0] == 404
    bad_ref = failure(lambda: gh.rest.repos.get_content("acme", "shop", "README.md", ref="nope"))
    assert bad_ref[0] == 404
    assert bad_ref[1]["message"] == "No commit found for the ref nope"


def test_the_tree_is_the_real_git_tree(gh, shop):
    tree = gh.rest.git.get_tree("acme", "shop", "main", recursive="1").parsed_data
    paths = {entry.path: entry for entry in tree.tree}

    assert set(paths) == {
        ".github",
        ".github/workflows",
        ".github/workflows/vmkit-deploy.yml",
        "README.md",
        "app.py",
    }
    assert paths["app.py"].sha == git(shop.git_dir, "rev-parse", "main:app.py").strip()
    assert paths["app.py"].size == len("print('hello')\n")
    top = gh.rest.git.get_tree("acme", "shop", tree.sha).parsed_data
    assert {entry.path for entry in top.tree} == {".github", "README.md", "app.py"}


def test_putting_a_file_commits_on_the_branch(gh, shop):
    created = gh.rest.repos.create_or_update_file_contents(
        "acme",
        "shop",
        "config/deploy.yml",
        message="Add Kamal config",
        content=b64("service: shop\n"),
    )
    assert created.status_code == 201
    commit = created.parsed_data.commit
    assert commit.parents[0].sha == shop.head_sha
    assert commit.author.name == "vmkit-local[bot]"
    assert git_show(shop.git_dir, "main:config/deploy.yml") == "service: shop\n"

    file_sha = created.parsed_data.content.sha
    update_without_sha = failure(
        lambda: gh.rest.repos.create_or_update_file_contents(
            "acme", "shop", "config/deploy.yml", message="m", content=b64("x")
        )
    )
    assert update_without_sha == (
        422,
        {
            "message": 'Invalid request.\n\n"sha" wasn\'t supplied.',
            "documentation_url": "https://docs.github.com/rest",
            "status": "422",
        },
    )
    stale = failure(
        lambda: gh.rest.repos.create_or_update_file_contents(
            "acme", "shop", "config/deploy.yml", message="m", content=b64("x"), sha="0" * 40
        )
    )
    assert stale[0] == 409
    updated = gh.rest.repos.create_or_update_file_contents(
        "acme",
        "shop",
        "config/deploy.yml",
        message="m",
        content=b64("service: web\n"),
        sha=file_sha,
    )
    assert updated.status_code == 200


def test_branch_commit_and_ref_through_the_git_data_api(gh, shop):
    # The way VMKit prepares its onboarding branch: blob, tree, commit, ref.
    blob = gh.rest.git.create_blob(
        "acme", "shop", content=b64("FROM python:3.12\n"), encoding="base64"
    )
    tree = gh.rest.git.create_tree(
        "acme",
        "shop",
        base_tree=gh.rest.git.get_commit("acme", "shop", shop.head_sha).parsed_data.tree.sha,
        tree=[
            {"path": "Dockerfile", "mode": "100644", "type": "blob", "sha": blob.parsed_data.sha},
            {"path": ".kamal/secrets", "mode": "100644", "type": "blob", "content": "X=$X\n"},
            {"path": "README.md", "mode": "100644", "type": "blob", "sha": None},
        ],
    ).parsed_data
    commit = gh.rest.git.create_commit(
        "acme",
        "shop",
        message="Onboard to VMKit",
        tree=tree.sha,
        parents=[shop.head_sha],
        author={"name": "VMKit", "email": "vmkit@example.com", "date": "2026-01-02T03:04:05Z"},
    ).parsed_data
    ref = gh.rest.git.create_ref("acme", "shop", ref="refs/heads/vmkit/onboarding", sha=commit.sha)

    assert ref.status_code == 201
    assert ref.parsed_data.object_.sha == commit.sha
    read_back = gh.rest.git.get_commit("acme", "shop", commit.sha).parsed_data
    assert (read_back.author.name, read_back.author.date.year) == ("VMKit", 2026)
    assert read_back.parents[0].sha == shop.head_sha
    files = git_show(shop.git_dir, f"{commit.sha}:").split()
    assert "Dockerfile" in files and "README.md" not in files
    assert git_show(shop.git_dir, f"{commit.sha}:.kamal/secrets") == "X=$X\n"
    branch = gh.rest.repos.get_branch("acme", "shop", "vmkit/onboarding").parsed_data
    assert branch.commit.sha == commit.sha
    assert sorted(b.name for b in gh.rest.repos.list_branches("acme", "shop").parsed_data) == [
        "main",
        "vmkit/onboarding",
    ]
    blob_back = gh.rest.git.get_blob("acme", "shop", blob.parsed_data.sha).parsed_data
    assert base64.b64decode(blob_back.content) == b"FROM python:3.12\n"
    assert gh.rest.repos.get_commit("acme", "shop", commit.sha).parsed_data.commit.message == (
        "Onboard to VMKit"
    )


def test_ref_updates_fast_forward_unless_forced(gh, shop):
    tree = gh.rest.git.get_commit("acme", "shop", shop.head_sha).parsed_data.tree.sha
    child = gh.rest.git.create_commit(
        "acme", "shop", message="c", tree=tree, parents=[shop.head_sha]
    )
    orphan = gh.rest.git.create_commit("acme", "shop", message="o", tree=tree, parents=[])

    moved = gh.rest.git.update_ref("acme", "shop", "heads/main", sha=child.parsed_data.sha)
    assert moved.parsed_data.object_.sha == child.parsed_data.sha
    not_ff = failure(
        lambda: gh.rest.git.update_ref("acme", "shop", "heads/main", sha=orphan.parsed_data.sha)
    )
    assert not_ff[0] == 422
    assert not_ff[1]["message"] == "Update is not a fast forward"
    forced = gh.rest.git.update_ref(
        "acme", "shop", "heads/main", sha=orphan.parsed_data.sha, force=True
    )
    assert forced.parsed_data.object_.sha == orphan.parsed_data.sha
    assert gh.rest.git.get_ref("acme", "shop", "heads/main").parsed_data.object_.sha == (
        orphan.parsed_data.sha
    )


def test_git_data_errors(gh, shop):
    exists = failure(
        lambda: gh.rest.git.create_ref("acme", "shop", ref="refs/heads/main", sha=shop.head_sha)
    )
    assert exists[1]["message"] == "Reference already exists"
    bad_name = failure(
        lambda: gh.rest.git.create_ref("acme", "shop", ref="main", sha=shop.head_sha)
    )
    assert bad_name[0] == 422
    no_object = failure(
        lambda: gh.rest.git.create_ref("acme", "shop", ref="refs/heads/x", sha="1" * 40)
    )
    assert no_object[1]["message"] == "Object does not exist"
    assert failure(lambda: gh.rest.git.get_ref("acme", "shop", "heads/nope"))[0] == 404
    assert failure(lambda: gh.rest.git.get_blob("acme", "shop", "1" * 40))[0] == 404
    assert failure(lambda: gh.rest.git.get_tree("acme", "shop", "nope"))[0] == 404
    bad_tree = failure(
        lambda: gh.rest.git.create_commit("acme", "shop", message="m", tree="1" * 40, parents=[])
    )
    assert bad_tree[1]["message"] == "Tree SHA does not exist"


def test_raw_bodies_get_githubs_validation_messages(github, github_url, shop, app_client):
    token = app_client.rest.apps.create_installation_access_token(
        github.installation_id("acme")
    ).parsed_data.token
    auth = {"Authorization": f"token {token}"}
    refs = f"{github_url}/repos/acme/shop/git/refs"

    missing = httpx.post(refs, json={"ref": "refs/heads/x"}, headers=auth)
    assert (missing.status_code, missing.json()["message"]) == (
        422,
        'Invalid request.\n\n"sha" wasn\'t supplied.',
    )
    wrong_type = httpx.post(refs, json={"ref": "refs/heads/x", "sha": 7}, headers=auth)
    assert (
        wrong_type.json()["message"]
        == "Invalid request.\n\nFor 'properties/sha', 7 is not a string."
    )
    not_json = httpx.post(refs, content=b"{", headers=auth)
    assert (not_json.status_code, not_json.json()["message"]) == (400, "Problems parsing JSON")
    no_route = httpx.get(f"{github_url}/repos/acme/shop/nothing", headers=auth)
    assert (no_route.status_code, no_route.json()["message"]) == (404, "Not Found")


def test_lists_paginate_with_link_headers(gh, shop):
    for index in range(3):
        gh.rest.git.create_ref("acme", "shop", ref=f"refs/heads/b{index}", sha=shop.head_sha)

    first = gh.rest.repos.list_branches("acme", "shop", per_page=2)
    assert [branch.name for branch in first.parsed_data] == ["b0", "b1"]
    assert 'rel="next"' in first.headers["link"] and 'rel="last"' in first.headers["link"]
    every = list(
        gh.rest.paginate(gh.rest.repos.list_branches, owner="acme", repo="shop", per_page=2)
    )
    assert [branch.name for branch in every] == ["b0", "b1", "b2", "main"]


def test_create_repo_from_a_directory(tmp_path, github: GitHubSimulator, gh):
    source = tmp_path / "app"
    (source / "src").mkdir(parents=True)
    (source / "src" / "main.py").write_text("print(1)\n")
    (source / "Procfile").write_text("web: python src/main.py\n")
    (source / ".git").mkdir()
    (source / ".git" / "HEAD").write_text("ignored\n")

    created = github.create_repo("acme", "from-dir", source_dir=source, default_branch="trunk")

    tree = gh.rest.git.get_tree("acme", "from-dir", "trunk", recursive="1").parsed_data
    assert sorted(entry.path for entry in tree.tree) == ["Procfile", "src", "src/main.py"]
    assert created.default_branch == "trunk"
    with pytest.raises(ValueError, match="already exists"):
        github.create_repo("acme", "from-dir", {"a": "b"})
