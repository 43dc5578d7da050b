"""What the agent side generates, checked by the real tools that consume it:
cloud-init's schema, systemd-analyze, and nft (needs Debian's cloud-init, systemd and
nftables packages)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from vmkit.cloudinit import render_agent_unit, render_user_data
from vmkit_agent.handlers.harden import render_nftables, ssh_sources

USER_DATA = {
    "agent_token": "vmka_01JTOKEN_s3cr3t",
    "gateway_url": "wss://gw.vmkit.example/agent",
    "instance_id": "ins_01JABC",
    "agent_download_url": "https://dl.vmkit.example/agent/0.1.0/vmkit-agent.pyz?sig=a%2Fb&x=1",
    "agent_sha256": "0123456789abcdef" * 4,
}


def _tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    assert path, f"{name} is missing: install it with apt-get (see the agent README)"
    return path


def _run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("log_level", ["info", "debug"])
def test_user_data_passes_the_cloud_init_schema(tmp_path, log_level):
    path = tmp_path / "user-data.yaml"
    path.write_text(render_user_data(**USER_DATA, log_level=log_level))

    done = _run([_tool("cloud-init"), "schema", "--config-file", str(path)])

    assert done.returncode == 0, done.stdout + done.stderr
    assert "Valid cloud-config" in done.stdout


def test_the_schema_check_catches_a_broken_document(tmp_path):
    path = tmp_path / "user-data.yaml"
    path.write_text(
        render_user_data(**USER_DATA).replace("package_update: true", "package_update: sometimes")
    )

    assert _run([_tool("cloud-init"), "schema", "--config-file", str(path)]).returncode != 0


def _verify_unit(directory: Path, text: str) -> subprocess.CompletedProcess:
    # verify checks that ExecStart's program exists: /usr/bin/python3, which every
    # machine with cloud-init has (cloud-init is Python).
    assert Path("/usr/bin/python3").exists(), "systemd-analyze verify needs /usr/bin/python3"
    unit = directory / "vmkit-agent.service"
    unit.write_text(text)
    return _run([_tool("systemd-analyze"), "verify", str(unit)])


def test_the_agent_unit_passes_systemd_analyze_verify(tmp_path):
    done = _verify_unit(tmp_path, render_agent_unit())
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_systemd_analyze_catches_a_broken_unit(tmp_path):
    done = _verify_unit(
        tmp_path, render_agent_unit().replace("Restart=always", "Restart=sometimes")
    )
    assert "Failed to parse service restart specifier" in done.stderr


@pytest.mark.parametrize(
    "sources",
    [None, [], ["203.0.113.0/24"], ["2001:db8::/32"], ["203.0.113.7", "10.0.0.0/8", "2001:db8::1"]],
)
def test_firewall_rules_pass_nft_check(sources):
    ruleset = render_nftables(ssh_sources(sources))

    done = subprocess.run(
        [_tool("nft"), "--check", "--file", "-"],
        input=ruleset,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr


def test_nft_check_catches_a_broken_ruleset():
    broken = render_nftables(None).replace("policy drop;", "policy maybe;")
    done = subprocess.run(
        [_tool("nft"), "--check", "--file", "-"],
        input=broken,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
