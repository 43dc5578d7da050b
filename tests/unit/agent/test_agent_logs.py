"""logs_fetch on a fake root: tails, limits and refusals."""

from __future__ import annotations

import pytest
from agent_unit_support import add_container

from vmkit_agent.errors import InvalidParams, NotFound
from vmkit_agent.handlers.logs import MAX_LINE_CHARS, logs_fetch
from vmkit_agent.host.sandbox import tail_lines


def _log(count: int) -> str:
    return "".join(f"2026-11-23T10:00:{i % 60:02d}.000000000Z line {i}\n" for i in range(count))


def test_logs_default_to_the_last_100_lines_with_timestamps(ctx, root):
    add_container(root, "web", log=_log(250))

    lines = logs_fetch(ctx, {"container": "web"})["lines"]

    assert len(lines) == 100
    assert lines[0] == {"ts": "2026-11-23T10:00:30.000000000Z", "text": "line 150"}
    assert lines[-1]["text"] == "line 249"


def test_logs_return_the_requested_number_of_lines_up_to_5000(ctx, root):
    add_container(root, "web", log=_log(6000))

    lines = logs_fetch(ctx, {"container": "web", "lines": 5000})["lines"]

    assert len(lines) == 5000
    assert [line["text"] for line in lines[:2]] == ["line 1000", "line 1001"]


def test_logs_of_a_quiet_container_are_empty(ctx, root):
    add_container(root, "worker")
    assert logs_fetch(ctx, {"container": "worker", "lines": 10}) == {"lines": []}


def test_lines_without_a_timestamp_keep_their_text(ctx, root):
    add_container(root, "web", log="plain output\n2026-11-23T10:00:00Z stamped\n")

    lines = logs_fetch(ctx, {"container": "web"})["lines"]

    assert lines == [
        {"ts": None, "text": "plain output"},
        {"ts": "2026-11-23T10:00:00Z", "text": "stamped"},
    ]


def test_a_huge_line_is_cut_so_it_fits_a_frame(ctx, root):
    add_container(root, "web", log=f"2026-11-23T10:00:00Z {'x' * 50_000}\n")

    (line,) = logs_fetch(ctx, {"container": "web"})["lines"]

    assert line["text"].startswith("x" * MAX_LINE_CHARS)
    assert line["text"].endswith(f"[{50_000 - MAX_LINE_CHARS} characters cut]")


def test_logs_of_an_unknown_container_are_refused(ctx, root):
    add_container(root, "web")
    with pytest.raises(NotFound, match="no container named 'db'"):
        logs_fetch(ctx, {"container": "db"})


@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        (5001, "lines must be from 1 to 5000, got 5001"),
        (100_000, "lines must be from 1 to 5000"),
        (0, "lines must be from 1 to 5000, got 0"),
        (-5, "lines must be from 1 to 5000"),
        ("100", "lines must be an integer"),
        (True, "lines must be an integer"),
        (10.5, "lines must be an integer"),
    ],
)
def test_logs_refuse_a_bad_line_count(ctx, root, lines, problem):
    add_container(root, "web", log=_log(10))
    with pytest.raises(InvalidParams, match=problem):
        logs_fetch(ctx, {"container": "web", "lines": lines})


@pytest.mark.parametrize("name", ["../../etc/shadow", "web/../db", "-web", "", None, 42])
def test_logs_refuse_a_bad_container_name(ctx, name):
    with pytest.raises(InvalidParams, match="container"):
        logs_fetch(ctx, {"container": name})


def test_tail_reads_across_block_boundaries(tmp_path):
    path = tmp_path / "big.log"
    path.write_text("".join(f"{i:06d} {'y' * 300}\n" for i in range(2000)))  # ~600 KB

    tail = tail_lines(path, 1500)

    assert len(tail) == 1500
    assert tail[0].startswith("000500 ") and tail[-1].startswith("001999 ")
