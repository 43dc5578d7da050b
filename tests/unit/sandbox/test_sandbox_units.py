"""systemd unit files and time spans, read as systemd reads them; the rest refused by name."""

from __future__ import annotations

import pytest

from vmkit_local.sandbox.errors import UnitError
from vmkit_local.sandbox.units import parse_environment_file, parse_timespan, parse_unit

AGENT_UNIT = """\
[Unit]
Description=vmkit-agent daemon
After=network-online.target docker.service
Requires=docker.service

[Service]
Type=simple
EnvironmentFile=/etc/vmkit/agent.env
EnvironmentFile=-/etc/vmkit/extra.env
Environment="A=1" B=two
ExecStart=/usr/bin/python3 /usr/local/bin/vmkit-agent \\
    --verbose
Restart=always
RestartSec=5s
StandardOutput=journal
SyslogIdentifier=vmkit-agent

[Install]
WantedBy=multi-user.target
"""


def test_the_agent_unit_parses_into_what_the_supervisor_needs():
    unit = parse_unit("vmkit-agent.service", AGENT_UNIT)

    assert unit.exec_start == ["/usr/bin/python3", "/usr/local/bin/vmkit-agent", "--verbose"]
    assert unit.environment_files == [
        ("/etc/vmkit/agent.env", False),
        ("/etc/vmkit/extra.env", True),
    ]
    assert unit.environment == {"A": "1", "B": "two"}
    assert unit.restart == "always"
    assert unit.restart_sec == 5.0
    assert unit.wanted_by == ["multi-user.target"]
    assert unit.description == "vmkit-agent daemon"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("ExecStartPre=/bin/true", r"\[Service\] ExecStartPre= not emulated"),
        ("Type=forking", "Type=forking not emulated"),
        ("Restart=on-abnormal", "Restart=on-abnormal not emulated"),
        ("ExecStart=", "exactly one ExecStart="),
        ("RestartSec=soon", "invalid time span 'soon'"),
    ],
)
def test_what_the_supervisor_would_get_wrong_is_refused(change: str, message: str):
    text = AGENT_UNIT.replace("[Install]", f"{change}\n\n[Install]")
    if change == "ExecStart=":
        text = AGENT_UNIT.replace("[Service]", "[Service]\nExecStart=").replace(
            "ExecStart=/usr/bin/python3 /usr/local/bin/vmkit-agent \\\n    --verbose", "ExecStart="
        )
    with pytest.raises(UnitError, match=message):
        parse_unit("vmkit-agent.service", text)


def test_exec_start_must_be_an_absolute_path():
    text = AGENT_UNIT.replace("ExecStart=/usr/bin/python3", "ExecStart=python3")
    with pytest.raises(UnitError, match="must start with an absolute path"):
        parse_unit("vmkit-agent.service", text)


@pytest.mark.parametrize(
    ("span", "seconds"),
    [("5", 5.0), ("5s", 5.0), ("500ms", 0.5), ("1min 30s", 90.0), ("2h", 7200.0)],
)
def test_time_spans(span: str, seconds: float):
    assert parse_timespan(span) == seconds


def test_environment_files_take_quotes_and_skip_comments():
    text = "# comment\n; also\nTOKEN=vmka_1_x\nQUOTED=\"a b\"\nSINGLE='c'\nnot an assignment\n"

    assert parse_environment_file(text) == {"TOKEN": "vmka_1_x", "QUOTED": "a b", "SINGLE": "c"}
