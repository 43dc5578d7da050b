"""`init_local`, the logic behind `vmkit init`: scan a checkout, write the files."""

from __future__ import annotations

import json

import pytest

from vmkit.ai import InitResult, init_local
from vmkit.errors import Conflict, InvalidInput

FILES = [
    ".github/workflows/vmkit-deploy.yml",
    ".kamal/secrets",
    "config/deploy.yml",
    "config/vmkit.env.example",
]


def git_remote(root, url):
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text(
        "[core]\n\tbare = false\n"
        f'[remote "origin"]\n\turl = {url}\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n'
    )


def test_init_writes_the_onboarding_files_into_the_tree(app_copy):
    root = app_copy("hello")

    result = init_local(root, owner="acme")

    assert [f.path for f in result.files] == FILES
    assert {f.action for f in result.files} == {"created"}
    for file in result.files:
        assert (root / file.path).read_text() == file.content
        assert file.explanation
    assert result.scan.language == "python"
    assert result.app_url == "https://hello-production.vmkit.app"


def test_owner_and_repo_come_from_the_github_origin_remote(app_copy):
    root = app_copy("node-express")
    git_remote(root, "git@github.com:Acme-Corp/Orders.git")

    result = init_local(root, dry_run=True)

    assert (result.owner, result.repo) == ("Acme-Corp", "Orders")
    deploy = next(f for f in result.files if f.path == "config/deploy.yml").content
    assert "image: acme-corp/orders" in deploy


def test_https_remotes_and_worktree_git_files_are_understood(app_copy, tmp_path):
    root = app_copy("node-express")
    common = tmp_path / "main.git"
    (common / "worktrees" / "wt").mkdir(parents=True)
    (common / "config").write_text('[remote "origin"]\n\turl = https://github.com/acme/orders\n')
    (common / "worktrees" / "wt" / "commondir").write_text("../..\n")
    (root / ".git").write_text(f"gitdir: {common / 'worktrees' / 'wt'}\n")

    assert init_local(root, dry_run=True).owner == "acme"


def test_without_a_github_remote_the_owner_is_required(app_copy):
    with pytest.raises(InvalidInput, match="no GitHub 'origin' remote"):
        init_local(app_copy("hello"))


def test_existing_files_are_not_overwritten_and_nothing_is_written(app_copy):
    root = app_copy("hello")
    (root / "config").mkdir()
    (root / "config" / "deploy.yml").write_text("mine\n")

    with pytest.raises(Conflict) as raised:
        init_local(root, owner="acme")

    assert raised.value.details == {"existing": ["config/deploy.yml"]}
    assert "config/deploy.yml" in raised.value.message and "--force" in raised.value.message
    assert (root / "config" / "deploy.yml").read_text() == "mine\n"
    assert not (root / ".kamal").exists() and not (root / ".github").exists()


def test_force_overwrites_and_says_which_files_it_replaced(app_copy):
    root = app_copy("hello")
    (root / "config").mkdir()
    (root / "config" / "deploy.yml").write_text("mine\n")

    result = init_local(root, owner="acme", force=True)

    actions = {f.path: f.action for f in result.files}
    assert actions["config/deploy.yml"] == "overwritten"
    assert actions[".kamal/secrets"] == "created"
    assert (root / "config" / "deploy.yml").read_text().startswith("# Kamal 2 configuration")


def test_dry_run_returns_the_contents_and_writes_nothing(app_copy):
    root = app_copy("rust-axum")
    (root / "Cargo.lock").write_text("# changed\n")
    before = sorted(p.relative_to(root) for p in root.rglob("*"))

    result = init_local(root, owner="acme", dry_run=True)

    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before
    assert {f.action for f in result.files} == {"would_create"}
    assert "Dockerfile" in [f.path for f in result.files]
    assert result.dry_run is True


def test_dry_run_flags_files_it_would_overwrite(app_copy):
    root = app_copy("with-dockerfile")
    (root / ".kamal").mkdir()
    (root / ".kamal" / "secrets").write_text("X=$X\n")

    result = init_local(root, owner="acme", dry_run=True)

    assert {f.path: f.action for f in result.files}[".kamal/secrets"] == "would_overwrite"
    # The app's own Dockerfile is never regenerated.
    assert "Dockerfile" not in [f.path for f in result.files]


def test_result_serializes_to_json_with_the_scan_and_the_file_list(app_copy):
    result = init_local(app_copy("monorepo"), owner="acme", env="staging", dry_run=True)

    data = json.loads(result.model_dump_json())

    assert data["scan"]["app_path"] == "apps/web"
    assert [f["path"] for f in data["files"]] == FILES
    assert data["app_url"] == "https://monorepo-staging.vmkit.app"
    assert data["report"]["generators"][0]["source"] == "rules"
    assert InitResult.model_validate(data) == result


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"env": "Prod Env"}, "environment 'Prod Env' is not a slug"),
        ({"apps_domain": "bad domain"}, "'bad domain' is not a domain name"),
        ({"owner": "not an owner"}, "not a GitHub owner"),
    ],
)
def test_bad_options_are_clear_errors(app_copy, kwargs, message):
    kwargs.setdefault("owner", "acme")
    with pytest.raises(InvalidInput, match=message):
        init_local(app_copy("hello"), **kwargs)


def test_a_tree_without_an_app_gets_the_scanners_error(app_copy):
    with pytest.raises(InvalidInput, match="No deployable app found"):
        init_local(app_copy("no-app"), owner="acme")


def test_a_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(InvalidInput, match="is not a directory"):
        init_local(tmp_path / "nope", owner="acme")
