"""Agent logging: never the token, journald priorities, and the ring diagnose reads."""

from __future__ import annotations

import io
import logging

import pytest

from vmkit_agent.logsetup import RECENT_ERRORS, configure_logging
from vmkit_agent.redact import Redactor, url_without_secrets

TOKEN = "vmka_tok1_s3cr3tvalue"


@pytest.fixture
def restore_root_logger():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_the_token_is_redacted_from_messages_and_tracebacks(restore_root_logger, monkeypatch):
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    stream = io.StringIO()
    recent = configure_logging("debug", Redactor([TOKEN]), stream=stream)
    log = logging.getLogger("websockets.client")

    log.debug("> Authorization: Bearer %s", TOKEN)
    try:
        raise RuntimeError(f"connect failed with {TOKEN}")
    except RuntimeError:
        log.exception("boom")

    text = stream.getvalue()
    assert "s3cr3t" not in text and "vmka_tok1" not in text
    assert "Authorization: Bearer [redacted]" in text
    assert "RuntimeError: connect failed with [redacted]" in text
    assert "s3cr3t" not in recent[-1]["message"]


def test_under_systemd_lines_carry_a_syslog_priority(restore_root_logger, monkeypatch):
    monkeypatch.setenv("JOURNAL_STREAM", "8:12345")
    stream = io.StringIO()
    configure_logging("info", Redactor([]), stream=stream)

    logging.getLogger("vmkit_agent").error("lost the gateway")
    logging.getLogger("vmkit_agent").info("connected")
    logging.getLogger("vmkit_agent").debug("hidden at info")

    assert stream.getvalue().splitlines() == [
        "<3>vmkit_agent: lost the gateway",
        "<6>vmkit_agent: connected",
    ]


def test_recent_errors_keep_the_last_warnings_and_errors(restore_root_logger):
    recent = configure_logging("info", Redactor([]), stream=io.StringIO())
    log = logging.getLogger("vmkit_agent")

    log.info("not kept")
    for i in range(RECENT_ERRORS + 5):
        log.warning("problem %d", i)

    assert len(recent) == RECENT_ERRORS
    assert recent[0]["message"] == "problem 5" and recent[-1]["level"] == "warning"


def test_any_agent_token_shape_is_redacted_even_unknown_ones():
    assert (
        Redactor([])("token vmka_other_abc and bearer xyz")
        == "token vmka_[redacted] and bearer [redacted]"
    )


def test_urls_lose_credentials_and_query():
    assert url_without_secrets("https://u:p@x.example/a.pyz?sig=1") == "https://x.example/a.pyz"
