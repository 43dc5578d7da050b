"""SSH ingress on the local stack: harden opens 22 only to the runner ranges of the GitHub
simulator's /meta (and an environment's `ssh_allow_from`); 80 and 443 stay open."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.e2e.conftest import Local, ok

pytestmark = pytest.mark.e2e


def _nft_check(ruleset: str) -> subprocess.CompletedProcess:
    """As root `nft --check` runs as is; otherwise in its own user and network namespace
    (it needs CAP_NET_ADMIN for its netlink socket)."""
    nft = shutil.which("nft") or shutil.which("nft", path="/usr/sbin:/sbin")
    assert nft, "nft is missing: apt-get install nftables"
    argv = [nft, "--check", "--file", "-"]
    if os.geteuid() != 0:
        argv = ["unshare", "--user", "--map-root-user", "--net", *argv]
    return subprocess.run(argv, input=ruleset, capture_output=True, text=True, timeout=60)


def test_harden_opens_ssh_to_githubs_runners_only_and_an_environment_widens_it(
    local: Local, tmp_path
):
    app = local.new_app(tmp_path, "gatekeeper")
    deploy = local.deploy_until_done(app)
    assert deploy["status"] == "succeeded", deploy  # the runner got in over SSH
    env = ok(local.api.get(f"/api/environments/{app['env']['id']}"))
    instance = ok(local.api.get(f"/api/instances/{env['instance_id']}"))
    rules_file = local.cloud.fleet.root_for_ip(instance["ip"]) / "etc/vmkit/firewall.nft"

    def ssh_lines() -> list[str]:
        return [line.strip() for line in rules_file.read_text().splitlines() if "dport 22" in line]

    published = local.cloud.github.meta.actions
    (ipv4, ipv6) = ssh_lines()
    assert all(r in ipv4 or r in ipv6 for r in published)  # exactly /meta's `actions`
    assert "127.0.0.1/32" in ipv4 and "10.0.2.2/32" in ipv4  # the local runner's addresses
    assert all(line.startswith(("ip saddr", "ip6 saddr")) for line in ssh_lines())  # not to all
    assert "tcp dport { 80, 443 } accept" in rules_file.read_text()
    checked = _nft_check(rules_file.read_text())
    assert checked.returncode == 0, checked.stderr

    ok(
        local.api.patch(
            f"/api/environments/{env['id']}", json={"ssh_allow_from": ["198.51.100.0/24"]}
        )
    )
    hardened = ok(local.api.post(f"/api/instances/{instance['id']}/harden"))
    assert hardened["ok"] and any("firewall" in c for c in hardened["changes"]), hardened
    assert "198.51.100.0/24" in ssh_lines()[0]
    assert _nft_check(rules_file.read_text()).returncode == 0
