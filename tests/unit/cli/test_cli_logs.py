"""`vmkit logs -f`: each poll reads a window of the latest lines; only new ones are printed."""

from __future__ import annotations

import io

import pytest

from vmkit.schemas import LogLine, LogLines, Metrics
from vmkit_cli.commands.operate import app_container, follow_logs, new_lines
from vmkit_cli.errors import CliError, UsageError
from vmkit_cli.output import Output


def _lines(*texts: str) -> list[LogLine]:
    return [LogLine(ts=f"2026-12-01T12:00:{i:02d}Z", text=t) for i, t in enumerate(texts)]


ALL = _lines("a", "b", "c", "d", "e", "f")


def test_only_lines_after_the_last_window_are_new():
    assert new_lines(ALL[:3], ALL[1:5]) == (ALL[3:5], False)
    assert new_lines(ALL[:3], ALL[:3]) == ([], False)  # nothing happened


def test_a_first_batch_smaller_than_the_follow_window_is_not_printed_again():
    # `logs --lines 2 -f`: two lines first, then windows of many more.
    assert new_lines(ALL[3:5], ALL) == (ALL[5:], False)


def test_a_repeated_line_is_told_apart_by_the_lines_before_it():
    same = LogLine(ts="t", text="GET /up 200")
    before = [LogLine(ts="a", text="start"), same]
    later = [LogLine(ts="a", text="start"), same, LogLine(ts="b", text="x"), same]
    assert new_lines(before, later) == (later[2:], False)


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


class Followed:
    """A VM whose app writes a line per poll, and is redeployed into a new container."""

    def __init__(self, polls: int):
        self.polls, self.calls = polls, 0
        self.containers = {"kamal-proxy": "healthy", "shop-web-1": "healthy"}

    def metrics(self, instance_id: str) -> Metrics:
        return Metrics(container_health=dict(self.containers))

    def logs(self, instance_id: str, container: str, lines: int) -> LogLines:
        self.calls += 1
        if self.calls > self.polls:
            raise KeyboardInterrupt  # the person is done
        if self.calls == 3:  # a deploy: the new release takes over
            self.containers = {"kamal-proxy": "healthy", "shop-web-2": "healthy"}
        written = [
            LogLine(ts=f"{container}-{i}", text=f"{container} line {i}") for i in range(self.calls)
        ]
        return LogLines(lines=written[-lines:])


def test_following_prints_new_lines_and_moves_to_a_new_release():
    buffer = io.StringIO()
    out = Output(json_mode=False, stdout=buffer)
    client = Followed(polls=6)
    first = client.logs("ins_1", "shop-web-1", 100).lines
    follow_logs(
        client, out, "ins_1", "shop-web-1", 100, seen=first, pinned=False, sleep=lambda s: None
    )  # type: ignore[arg-type]
    printed = buffer.getvalue().splitlines()
    assert printed[:2] == ["shop-web-1-1  shop-web-1 line 1", "shop-web-1-2  shop-web-1 line 2"]
    assert "— a new release: now following shop-web-2" in printed
    assert len(printed) == len(set(printed))
