"""The simulated job log: GitHub's raw log shape, secrets masked as they are written."""

from __future__ import annotations

import re

from vmkit_local.sandbox.actions_log import ActionsLog


def test_lines_are_timestamped_and_grouped_like_githubs_raw_log():
    log = ActionsLog()
    log.group("Run kamal deploy")
    log.line("Acquiring the deploy lock...")
    log.end_group()
    log.error("Process completed with exit code 1.")

    lines = log.text().splitlines()

    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z ", line) for line in lines)
    assert [line.split(" ", 1)[1] for line in lines] == [
        "##[group]Run kamal deploy",
        "Acquiring the deploy lock...",
        "##[endgroup]",
        "##[error]Process completed with exit code 1.",
    ]


def test_secret_values_and_each_line_of_a_multiline_secret_are_masked():
    key = "-----BEGIN KEY-----\nAAAAbase64body\n-----END KEY-----"
    log = ActionsLog(["ghs_token123", key])
    log.add_mask("learnt-later")

    log.line("login with ghs_token123 then learnt-later")
    log.line("key body AAAAbase64body leaked?")

    text = log.text()
    assert "ghs_token123" not in text and "learnt-later" not in text
    assert "AAAAbase64body" not in text
    assert "login with *** then ***" in text
