"""Cloud-init user data for an instance: the brief's layout, the token kept in the 0600
env file, and refusals of anything that could smuggle text into the env file or a command."""

from __future__ import annotations

import re
import shlex

import pytest
import yaml

from vmkit.cloudinit import MAX_USER_DATA_BYTES, render_agent_unit, render_user_data
from vmkit.errors import InvalidInput

TOKEN = "vmka_01JTOKENID_s3cr3t-Value_x"
SHA = "ab" * 32
GOOD = {
    "agent_token": TOKEN,
    "gateway_url": "wss://gw.vmkit.example/agent",
    "instance_id": "ins_01JABC",
    "agent_download_url": "https://dl.vmkit.example/agent/0.1.0/vmkit-agent.pyz?X-Amz-Expires=3600&sig=abc%2F",
    "agent_sha256": SHA,
}


def _render(**overrides: object) -> str:
    return render_user_data(**{**GOOD, **overrides})


def test_user_data_follows_the_contract():
    text = _render()
    data = yaml.safe_load(text)

    assert text.startswith("#cloud-config\n")
    assert data["package_update"] is True
    assert data["packages"] == ["docker.io", "curl", "ca-certificates"]
    env, checksum, unit = data["write_files"]
    assert env == {
        "path": "/etc/vmkit/agent.env",
        "permissions": "0600",
        "owner": "root:root",
        "content": (
            f"VMKIT_AGENT_TOKEN={TOKEN}\nVMKIT_GATEWAY_URL=wss://gw.vmkit.example/agent\n"
            "VMKIT_INSTANCE_ID=ins_01JABC\nVMKIT_LOG_LEVEL=info\n"
        ),
    }
    assert checksum == {
        "path": "/etc/vmkit/agent.sha256",
        "permissions": "0644",
        "content": f"{SHA}  /usr/local/bin/vmkit-agent\n",
    }
    assert unit == {
        "path": "/etc/systemd/system/vmkit-agent.service",
        "permissions": "0644",
        "content": render_agent_unit(),
    }
    # One `&&` chain: cloud-init runs every runcmd entry even after one fails, and a
    # bad checksum must stop the install before the agent is enabled.
    [[shell, flag, script]] = data["runcmd"]
    assert (shell, flag) == ("sh", "-c")
    steps = [shlex.split(part) for part in script.split(" && ")]
    assert steps == [
        [
            "curl",
            "-fsSL",
            "--retry",
            "5",
            "-o",
            "/usr/local/bin/vmkit-agent",
            GOOD["agent_download_url"],
        ],
        ["sha256sum", "--check", "--strict", "/etc/vmkit/agent.sha256"],
        ["chmod", "0755", "/usr/local/bin/vmkit-agent"],
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now", "vmkit-agent.service"],
    ]


def test_the_token_appears_only_in_the_env_file():
    text = _render(log_level="debug")
    assert text.count(TOKEN) == 1
    assert "VMKIT_LOG_LEVEL=debug" in text


def test_the_unit_runs_the_zipapp_with_the_system_python_and_restarts_it():
    unit = render_agent_unit()
    assert "ExecStart=/usr/bin/python3 /usr/local/bin/vmkit-agent\n" in unit
    assert "EnvironmentFile=/etc/vmkit/agent.env\n" in unit
    assert "Restart=always\n" in unit and "RestartSec=5s\n" in unit
    assert "SyslogIdentifier=vmkit-agent\n" in unit


def test_user_data_stays_far_below_hetzners_limit():
    longest = _render(agent_download_url="https://dl.example/" + "a" * 2000, log_level="warning")
    assert len(longest.encode()) < MAX_USER_DATA_BYTES / 4


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("agent_token", "vmk_apikey_123", "agent_token must look like vmka_"),
        ("agent_token", f"{TOKEN}\nVMKIT_ROOT=/tmp", "agent_token must look like vmka_"),
        ("agent_token", None, "agent_token must be a string"),
        ("gateway_url", "https://gw.example/agent", "gateway_url must be a ws:// or wss:// URL"),
        (
            "gateway_url",
            "wss://gw.example/agent\nVMKIT_ROOT=/",
            "gateway_url may hold only URL characters",
        ),
        ("gateway_url", "wss:///no-host", "with a host"),
        ("gateway_url", "wss://user:pw@gw.example/", "must not carry credentials"),
        ("agent_download_url", "https://x.example/$(reboot)", "shell"),
        ("agent_download_url", "https://x.example/a;reboot", "shell"),
        ("agent_download_url", "https://x.example/a`id`", "shell"),
        ("agent_download_url", "https://x.example/a b", "without whitespace"),
        ("agent_download_url", "https://x.example/a'b", "quotes"),
        ("agent_download_url", "ftp://x.example/a", "http:// or https://"),
        ("agent_download_url", "file:///etc/passwd", "http:// or https://"),
        ("instance_id", "ins 1", "instance_id 'ins 1' must be"),
        ("instance_id", "", "instance_id '' must be"),
        ("agent_sha256", "AB" * 32, "64 lowercase hexadecimal"),
        ("agent_sha256", "ab" * 31, "64 lowercase hexadecimal"),
        ("log_level", "verbose", "log_level must be one of"),
    ],
)
def test_bad_values_are_refused_clearly_and_never_echo_the_token(field, value, problem):
    with pytest.raises(InvalidInput, match=re.escape(problem)) as refused:
        _render(**{field: value})
    assert "s3cr3t" not in str(refused.value)
