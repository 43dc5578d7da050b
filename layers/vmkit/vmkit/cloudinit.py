"""The cloud-init user data that turns a fresh VM into one VMKit can reach.

It installs Docker, writes the agent's environment (token included: mode 0600, root
only, and nowhere else), downloads the agent and refuses to install it unless its
sha256 matches, then starts the agent's systemd unit. The local sandbox interprets
exactly this subset of cloud-init (write_files, and runcmd in argv form), so keep it to
that.

Everything that ends up in the env file or on a command line is checked first: a
newline or a shell metacharacter in a value could add a line to the env file or a
command to the VM's first boot.
"""

from __future__ import annotations

import re
import shlex
from typing import Any
from urllib.parse import urlsplit

import yaml

from vmkit.errors import InvalidInput

AGENT_PATH = "/usr/local/bin/vmkit-agent"
ENV_PATH = "/etc/vmkit/agent.env"
CHECKSUM_PATH = "/etc/vmkit/agent.sha256"
UNIT_PATH = "/etc/systemd/system/vmkit-agent.service"
LOG_LEVELS = ("debug", "info", "warning", "error")
# Hetzner Cloud refuses user data over 32 KiB.
MAX_USER_DATA_BYTES = 32 * 1024

_TOKEN = re.compile(r"vmka_[A-Za-z0-9_-]+")
_INSTANCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
# RFC 3986 characters minus the ones a shell or an env file would interpret
# (quotes, $, `, ;, |, (, ), *, !, \ and whitespace). `&` and `=` stay: query strings
# need them, and runcmd's argv form quotes every argument.
_URL = re.compile(r"[A-Za-z0-9._~:/?#\[\]@&=+,%-]+")

AGENT_UNIT = """\
[Unit]
Description=vmkit-agent daemon
After=network-online.target docker.service
# Wants, not the reference's Requires=docker.service: the agent must stay up when
# Docker fails or restarts, since it is what reports that.
Wants=network-online.target docker.service

[Service]
Type=simple
EnvironmentFile=/etc/vmkit/agent.env
ExecStart=/usr/bin/python3 /usr/local/bin/vmkit-agent
Restart=always
RestartSec=5s
StandardOutput=journal
StandardError=journal
SyslogIdentifier=vmkit-agent

[Install]
WantedBy=multi-user.target
"""


def render_agent_unit() -> str:
    """The agent's systemd unit (the agent reference's, run by the system Python)."""
    return AGENT_UNIT


def render_user_data(
    *,
    agent_token: str,
    gateway_url: str,
    instance_id: str,
    agent_download_url: str,
    agent_sha256: str,
    log_level: str = "info",
) -> str:
    """`#cloud-config` user data for one instance; raises InvalidInput on a bad value
    (the message never includes the token)."""
    values = locals()
    for name, value in values.items():
        if not isinstance(value, str):
            raise InvalidInput(f"{name} must be a string, got {type(value).__name__}")
    if not _TOKEN.fullmatch(agent_token):
        raise InvalidInput(
            "agent_token must look like vmka_<id>_<secret> (letters, digits, _ and -)"
        )
    _check_url("gateway_url", gateway_url, ("ws", "wss"))
    _check_url("agent_download_url", agent_download_url, ("http", "https"))
    if not _INSTANCE_ID.fullmatch(instance_id):
        raise InvalidInput(
            f"instance_id {instance_id[:80]!r} must be 1-64 letters, digits, _ or -, "
            "starting with a letter or digit"
        )
    if not _SHA256.fullmatch(agent_sha256):
        raise InvalidInput("agent_sha256 must be 64 lowercase hexadecimal characters")
    if log_level not in LOG_LEVELS:
        raise InvalidInput(f"log_level must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")

    env = (
        f"VMKIT_AGENT_TOKEN={agent_token}\n"
        f"VMKIT_GATEWAY_URL={gateway_url}\n"
        f"VMKIT_INSTANCE_ID={instance_id}\n"
        f"VMKIT_LOG_LEVEL={log_level}\n"
    )
    config: dict[str, Any] = {
        "package_update": True,
        "packages": _Flow(["docker.io", "curl", "ca-certificates"]),
        "write_files": [
            {"path": ENV_PATH, "permissions": "0600", "owner": "root:root", "content": env},
            {
                "path": CHECKSUM_PATH,
                "permissions": "0644",
                "content": f"{agent_sha256}  {AGENT_PATH}\n",
            },
            {"path": UNIT_PATH, "permissions": "0644", "content": render_agent_unit()},
        ],
        # One `&&` chain, not one entry per command: cloud-init runs the next runcmd
        # entry even when one fails, and a failed checksum must never start the agent.
        "runcmd": [
            _Flow(
                [
                    "sh",
                    "-c",
                    " && ".join(shlex.join(argv) for argv in install_steps(agent_download_url)),
                ]
            )
        ],
    }
    body = yaml.dump(config, Dumper=_Dumper, sort_keys=False, width=1000)
    user_data = f"#cloud-config\n{body}"
    if len(user_data.encode()) > MAX_USER_DATA_BYTES:
        raise InvalidInput(f"user data is over Hetzner's {MAX_USER_DATA_BYTES}-byte limit")
    return user_data


def install_steps(agent_download_url: str) -> list[list[str]]:
    """The agent's install, in order; each must succeed before the next runs."""
    return [
        ["curl", "-fsSL", "--retry", "5", "-o", AGENT_PATH, agent_download_url],
        ["sha256sum", "--check", "--strict", CHECKSUM_PATH],
        ["chmod", "0755", AGENT_PATH],
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now", "vmkit-agent.service"],
    ]


class _Flow(list):
    """A list written on one line, as in the contract: `[chmod, '0755', …]`."""


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line strings, so the unit and env file read as files."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _represent_flow(dumper: yaml.SafeDumper, value: _Flow) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(_Flow, _represent_flow)


def _check_url(name: str, url: str, schemes: tuple[str, ...]) -> None:
    if not _URL.fullmatch(url):
        raise InvalidInput(
            f"{name} may hold only URL characters, without whitespace, quotes or shell "
            "metacharacters ($ ` ; | ( ) * ! \\)"
        )
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.hostname:
        raise InvalidInput(
            f"{name} must be a {' or '.join(s + '://' for s in schemes)} URL with a host"
        )
    if parts.username or parts.password:
        raise InvalidInput(f"{name} must not carry credentials")
