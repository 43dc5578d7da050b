"""Paths inside a sandbox VM resolve like a chroot and never leave the root."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmkit_local.sandbox.errors import PathEscapeError
from vmkit_local.sandbox.rootfs import resolve_in_root


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "vm/etc").mkdir(parents=True)
    return tmp_path / "vm"


def test_an_absolute_vm_path_lands_under_the_root(root: Path):
    assert resolve_in_root(root, "/etc/vmkit/agent.env") == root.resolve() / "etc/vmkit/agent.env"


def test_dot_dot_inside_the_root_is_fine(root: Path):
    assert resolve_in_root(root, "/etc/../var/log") == root.resolve() / "var/log"


@pytest.mark.parametrize("path", ["/../outside", "/etc/../../outside", "../../x"])
def test_dot_dot_past_the_root_is_refused(root: Path, path: str):
    with pytest.raises(PathEscapeError, match="climbs above the VM's root"):
        resolve_in_root(root, path)


def test_an_absolute_symlink_is_followed_inside_the_root(root: Path, tmp_path: Path):
    (root / "etc/evil").symlink_to(tmp_path / "host-secrets")

    resolved = resolve_in_root(root, "/etc/evil/key")

    assert resolved == root.resolve() / tmp_path.relative_to("/") / "host-secrets/key"
    assert resolved.is_relative_to(root.resolve())


def test_a_relative_symlink_that_climbs_out_is_refused(root: Path):
    (root / "etc/up").symlink_to("../../..")

    with pytest.raises(PathEscapeError):
        resolve_in_root(root, "/etc/up/passwd")


def test_a_symlink_loop_is_refused(root: Path):
    (root / "etc/a").symlink_to("b")
    (root / "etc/b").symlink_to("a")

    with pytest.raises(PathEscapeError, match="too many levels of symbolic links"):
        resolve_in_root(root, "/etc/a")
