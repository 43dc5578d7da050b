"""Pieces of the GitHub simulator that need no server: git plumbing, signing, masking."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from vmkit_local.simulators.github.actions import _masked
from vmkit_local.simulators.github.gitstore import ZERO_SHA, Change, GitRepo, RefConflict, Signature
from vmkit_local.simulators.github.webhooks import sign

AUTHOR = Signature("Ada", "ada@example.com", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))


@pytest.fixture
def repo(tmp_path) -> GitRepo:
    return GitRepo.init(tmp_path / "acme" / "shop.git", "main")


def commit(repo: GitRepo, files: dict[str, bytes], parents: list[str], base: str | None = None):
    changes = [Change(path, sha=repo.write_blob(data)) for path, data in files.items()]
    tree = repo.build_tree(repo.read_commit(base).tree if base else None, changes)
    return repo.commit_tree(tree, parents, "message\n", AUTHOR)


def test_commits_trees_and_refs_are_real_git_objects(repo):
    first = commit(repo, {"a.txt": b"a\n", "dir/b.txt": b"b\n"}, [])
    repo.update_ref("refs/heads/main", first, ZERO_SHA)

    assert repo.resolve("main") == first
    info = repo.read_commit(first)
    assert (info.author, info.parents, info.message) == (AUTHOR, [], "message\n")
    assert [entry.path for entry in repo.ls_tree(first, recursive=True)] == [
        "a.txt",
        "dir",
        "dir/b.txt",
    ]
    assert repo.read_blob(repo.entry(first, "dir/b.txt").sha) == b"b\n"
    assert repo.entry(first, "missing") is None


def test_a_change_replaces_a_whole_directory_and_none_deletes(repo):
    first = commit(repo, {"dir/b.txt": b"b\n", "dir/c.txt": b"c\n", "keep": b"k\n"}, [])
    tree = repo.build_tree(repo.read_commit(first).tree, [Change("dir", sha=repo.write_blob(b"f"))])
    assert [e.path for e in repo.ls_tree(tree, recursive=True)] == ["dir", "keep"]
    emptied = repo.build_tree(repo.read_commit(first).tree, [Change("keep"), Change("dir")])
    assert repo.ls_tree(emptied) == []
    assert repo.build_tree(repo.read_commit(first).tree, []) == repo.read_commit(first).tree


def test_refs_move_only_from_the_expected_value(repo):
    first = commit(repo, {"a": b"1"}, [])
    second = commit(repo, {"a": b"2"}, [first])
    repo.update_ref("refs/heads/main", first, ZERO_SHA)

    with pytest.raises(RefConflict):
        repo.update_ref("refs/heads/main", second, ZERO_SHA)  # exists already
    with pytest.raises(RefConflict):
        repo.update_ref("refs/heads/main", second, second)  # stale expectation
    repo.update_ref("refs/heads/main", second, first)
    assert repo.is_ancestor(first, second) and not repo.is_ancestor(second, first)


def test_merging_finds_conflicts(repo):
    base = commit(repo, {"a": b"base\n"}, [])
    left = commit(repo, {"a": b"left\n"}, [base], base)
    right = commit(repo, {"a": b"right\n"}, [base], base)
    other = commit(repo, {"b": b"other\n"}, [base], base)

    assert repo.merge_trees(left, right) is None
    merged = repo.merge_trees(left, other)
    assert sorted(entry.path for entry in repo.ls_tree(merged)) == ["a", "b"]


def test_webhook_signatures_are_hmac_sha256_of_the_raw_body():
    body = b'{"action":"completed"}'
    expected = hmac.new(b"secret", body, hashlib.sha256).hexdigest()
    assert sign("secret", body) == f"sha256={expected}"
    assert sign("secret", body, "sha1").startswith("sha1=")


def test_secrets_are_masked_whole_and_line_by_line():
    key = "-----BEGIN-----\nline two of it"
    log = f"whole: {key}\nsplit: -----BEGIN-----, then line two of it\npw hunter2\nclean\n"

    masked = _masked(log, {"KEY": key, "PW": "hunter2", "EMPTY": ""})

    assert masked == "whole: ***\nsplit: ***, then ***\npw ***\nclean\n"
