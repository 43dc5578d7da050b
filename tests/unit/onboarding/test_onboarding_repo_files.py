"""LocalCheckout: what the scanner may see of a working tree, and what it may not."""

from __future__ import annotations

import os

import pytest

from vmkit.ai.repo_files import LocalCheckout, RepoFiles
from vmkit.errors import InvalidInput


def write(root, path, content="x"):
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content if isinstance(content, bytes) else content.encode())


def test_dependency_and_tool_directories_are_skipped(tmp_path):
    for path in ("app.py", "node_modules/x/package.json", ".git/config", ".venv/lib/a.py"):
        write(tmp_path, path)
    write(tmp_path, "vendor/bundle/Gemfile")
    write(tmp_path, "src/__pycache__/a.pyc")

    assert LocalCheckout(tmp_path).list_paths() == ["app.py"]


def test_simple_gitignore_patterns_are_respected(tmp_path):
    write(tmp_path, ".gitignore", "# build output\n*.log\nout/\n/secret.txt\n!keep.log\n")
    for path in ("app.py", "debug.log", "out/bundle.js", "secret.txt", "src/out.py"):
        write(tmp_path, path)

    assert LocalCheckout(tmp_path).list_paths() == [".gitignore", "app.py", "src/out.py"]


def test_read_text_caps_size_and_refuses_binary(tmp_path):
    write(tmp_path, "big.txt", "a" * 2000)
    write(tmp_path, "logo.png", b"\x89PNG\x00\x00")
    write(tmp_path, "latin1.txt", b"caf\xe9")
    files = LocalCheckout(tmp_path)

    assert files.read_text("big.txt", max_bytes=1000) is None
    assert files.read_text("big.txt") == "a" * 2000
    assert files.read_text("logo.png") is None
    assert files.read_text("latin1.txt") is None
    assert files.read_text("missing.txt") is None


def test_paths_that_escape_the_tree_are_refused(tmp_path):
    files = LocalCheckout(tmp_path)

    for path in ("../etc/passwd", "/etc/passwd", "a/../../b"):
        with pytest.raises(InvalidInput, match="not a path inside the repository"):
            files.read_text(path)


def test_symlinks_out_of_the_tree_are_neither_listed_nor_read(tmp_path):
    outside = tmp_path / "outside"
    write(outside, "secret.txt", "top secret")
    repo = tmp_path / "repo"
    write(repo, "app.py")
    os.symlink(outside / "secret.txt", repo / "leak.txt")
    os.symlink(outside, repo / "linked-dir")
    files = LocalCheckout(repo)

    assert files.list_paths() == ["app.py"]
    assert files.read_text("leak.txt") is None
    assert files.read_text("linked-dir/secret.txt") is None


def test_listing_stops_at_the_cap_and_says_so(tmp_path):
    for i in range(30):
        write(tmp_path, f"f{i:02}.txt")
    files = LocalCheckout(tmp_path, max_files=10)

    assert len(files.list_paths()) == 10
    assert files.truncated is True


def test_a_path_that_is_not_a_directory_is_a_clear_error(tmp_path):
    write(tmp_path, "file.txt")

    with pytest.raises(InvalidInput, match="is not a directory"):
        LocalCheckout(tmp_path / "file.txt")
    with pytest.raises(InvalidInput, match="is not a directory"):
        LocalCheckout(tmp_path / "nope")


def test_local_checkout_satisfies_the_port(tmp_path):
    assert isinstance(LocalCheckout(tmp_path), RepoFiles)
