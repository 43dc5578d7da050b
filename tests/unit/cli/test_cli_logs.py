"""`vmkit logs -f`: each poll reads a window of the latest lines; only new ones are printed."""

from __future__ import annotations

import pytest

from vmkit.schemas import LogLine
from vmkit_cli.commands.operate import app_container, new_lines
from vmkit_cli.errors import CliError, UsageError


def _lines(*texts: str) -> list[LogLine]:
    return [LogLine(ts=f"2026-12-01T12:00:{i:02d}Z", text=t) for i, t in enumerate(texts)]


ALL = _lines("a", "b", "c", "d", "e", "f")


def test_only_lines_after_the_last_window_are_new():
    assert new_lines(ALL[:3], ALL[1:5]) == (ALL[3:5], False)
    assert new_lines(ALL[:3], ALL[:3]) == ([], False)  # nothing happened


def test_a_window_with_no_overlap_is_printed_whole_and_flagged():
    assert new_lines(ALL[:2], ALL[3:6]) == (ALL[3:6], True)
    assert new_lines([], ALL[:2]) == (ALL[:2], False)


def test_the_app_container_is_kamal_s_web_role_not_the_proxy():
    health = {"kamal-proxy": "healthy", "shop-web-1a2b": "healthy", "shop-db": "healthy"}
    assert app_container(health) == "shop-web-1a2b"
    assert app_container({"kamal-proxy": "none", "custom": "none"}) == "custom"
    with pytest.raises(UsageError):
        app_container({"shop-web-1": "healthy", "blog-web-2": "healthy"})
    with pytest.raises(CliError):
        app_container({"kamal-proxy": "healthy"})
