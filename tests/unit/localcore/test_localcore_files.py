"""One way to rewrite a file that others read: old or new content, never half, never exposed."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from vmkit_local.files import write_atomically


def test_a_new_file_is_owner_only_unless_told_otherwise(tmp_path: Path):
    secret, public = tmp_path / "deep" / "tokens.json", tmp_path / "proxy.json"

    write_atomically(secret, '{"token": "x"}')
    write_atomically(public, b"{}", mode=0o644)

    assert secret.read_text() == '{"token": "x"}'
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert public.read_bytes() == b"{}"
    assert stat.S_IMODE(public.stat().st_mode) == 0o644


def test_a_failed_write_keeps_the_old_content_and_leaves_no_temporary_file(tmp_path: Path):
    path = tmp_path / "state.json"
    write_atomically(path, "old")

    with pytest.raises(TypeError):
        write_atomically(path, 12)  # type: ignore[arg-type]

    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
