"""What the agent side generates, checked by the real tools that consume it:
cloud-init's schema, systemd-analyze, and nft (needs Debian's cloud-init, systemd and
nftables packages)."""

from __future__ import annotations

import os
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
    done = _nft_check(render_nftables(ssh_sources(sources)))

    assert done.returncode == 0, done.stderr


def test_nft_check_catches_a_broken_ruleset():
    broken = render_nftables(None).replace("policy drop;", "policy maybe;")
    assert _nft_check(broken).returncode != 0


def test_port_22_rules_rendered_from_githubs_meta_pass_nft_check():
    """The rules harden loads: GitHub's `actions` ranges (the simulator's /meta, and a
    list as long as GitHub's, with overlaps) plus the environment's own networks."""
    from vmkit_agent import ingress
    from vmkit_local.simulators import GitHubSimulator, serve_in_thread

    sim = GitHubSimulator()
    url, stop = serve_in_thread(sim.app)
    try:
        meta = ingress.fetch(f"{url}/meta")
    finally:
        stop()
        sim.close()
    assert meta is not None and "10.0.2.2/32" in meta.ranges  # the local runner's address
    long_list = tuple(f"20.{a}.{b}.0/24" for a in range(40) for b in range(0, 250, 2))
    long_list += tuple(f"20.{a}.0.0/16" for a in range(0, 40, 3))  # overlapping ones
    long_list += tuple(f"2603:1030:{n:x}::/48" for n in range(500))
    for ranges in (meta.ranges, long_list):
        nets = ingress.networks(ranges, ("198.51.100.0/24", "2001:db8::/32"))
        ruleset = render_nftables(nets)
        done = _nft_check(ruleset)
        assert done.returncode == 0, done.stderr
        assert "tcp dport { 80, 443 } accept" in ruleset


def _nft_check(ruleset: str) -> subprocess.CompletedProcess:
    """`nft --check` opens a netlink socket, which needs CAP_NET_ADMIN: as root it runs
    as is; otherwise in a user and network namespace of its own (`unshare -rn`), where
    the caller has that capability over nothing but an empty namespace."""
    argv = [_tool("nft"), "--check", "--file", "-"]
    if os.geteuid() != 0:
        argv = [_tool("unshare"), "--user", "--map-root-user", "--net", *argv]
    return subprocess.run(argv, input=ruleset, capture_output=True, text=True, timeout=60)
