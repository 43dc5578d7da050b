"""harden on a fake root: the kamal user, its key, sshd and the firewall, idempotently."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from agent_unit_support import deploy_key

from vmkit_agent.errors import InvalidParams
from vmkit_agent.handlers.harden import SSHD_DROPIN_PATH, harden, render_nftables, ssh_sources
from vmkit_agent.host.sandbox import FIREWALL_PATH


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _rows(path: Path) -> dict[str, list[str]]:
    return {line.split(":")[0]: line.split(":") for line in path.read_text().splitlines()}


def test_harden_creates_the_deploy_user_with_docker_access_and_a_locked_password(ctx, root):
    result = harden(ctx, {"deploy_public_key": deploy_key()})

    assert result["ok"] is True
    passwd = _rows(root / "etc/passwd")["kamal"]
    assert passwd[2] == "1000" and passwd[5] == "/home/kamal" and passwd[6] == "/bin/bash"
    groups = _rows(root / "etc/group")
    assert groups["docker"][3].split(",") == ["kamal"]
    assert groups["kamal"][2] == passwd[3]  # its own primary group
    assert _rows(root / "etc/shadow")["kamal"][1] == "!"  # locked: no password login
    assert (root / "home/kamal").is_dir()
    assert "created user kamal (groups: docker)" in result["changes"]


def test_harden_installs_only_the_deploy_key_with_ssh_modes(ctx, root):
    key = deploy_key("deploy@vmkit")
    harden(ctx, {"deploy_public_key": key})

    ssh_dir = root / "home/kamal/.ssh"
    keys = ssh_dir / "authorized_keys"
    assert _mode(ssh_dir) == 0o700
    assert _mode(keys) == 0o600
    lines = [line for line in keys.read_text().splitlines() if not line.startswith("#")]
    assert lines == [key]


def test_harden_writes_the_sshd_dropin(ctx, root):
    harden(ctx, {"deploy_public_key": deploy_key()})

    dropin = (root / SSHD_DROPIN_PATH.lstrip("/")).read_text()
    settings = dict(line.split(" ", 1) for line in dropin.splitlines() if not line.startswith("#"))
    assert settings["PermitRootLogin"] == "no"
    assert settings["PasswordAuthentication"] == "no"
    assert settings["KbdInteractiveAuthentication"] == "no"


def test_harden_writes_firewall_rules_allowing_web_and_ssh_only_from_the_given_networks(ctx, root):
    harden(
        ctx,
        {"deploy_public_key": deploy_key(), "ssh_allow_from": ["203.0.113.0/24", "2001:db8::/32"]},
    )

    rules = (root / FIREWALL_PATH.lstrip("/")).read_text()
    assert _mode(root / FIREWALL_PATH.lstrip("/")) == 0o600
    assert "policy drop;" in rules
    assert "tcp dport { 80, 443 } accept" in rules
    assert "ip saddr { 203.0.113.0/24 } tcp dport 22 accept" in rules
    assert "ip6 saddr { 2001:db8::/32 } tcp dport 22 accept" in rules
    assert "\t\ttcp dport 22 accept" not in rules  # no unrestricted ssh rule


def test_harden_twice_changes_nothing_the_second_time(ctx, root):
    params = {"deploy_public_key": deploy_key(), "ssh_allow_from": ["198.51.100.7"]}
    first = harden(ctx, params)
    snapshot = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}

    second = harden(ctx, params)

    assert len(first["changes"]) >= 5
    assert second == {"ok": True, "changes": []}
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == snapshot


def test_harden_repairs_drift_and_reports_only_that(ctx, root):
    params = {"deploy_public_key": deploy_key()}
    harden(ctx, params)
    (root / "home/kamal/.ssh/authorized_keys").chmod(0o644)
    group = root / "etc/group"
    group.write_text(group.read_text().replace("docker:x:998:kamal", "docker:x:998:"))

    again = harden(ctx, params)

    assert again["changes"] == [
        "added kamal to docker",
        "set mode 0600 on /home/kamal/.ssh/authorized_keys",
    ]


def test_harden_replaces_a_rotated_deploy_key(ctx, root):
    harden(ctx, {"deploy_public_key": deploy_key()})
    new_key = deploy_key("rotated")

    result = harden(ctx, {"deploy_public_key": new_key})

    assert result["changes"] == ["wrote /home/kamal/.ssh/authorized_keys"]
    assert new_key in (root / "home/kamal/.ssh/authorized_keys").read_text()


def test_harden_creates_the_docker_group_when_docker_is_not_installed_yet(ctx, root):
    (root / "etc/group").write_text("root:x:0:\n")

    result = harden(ctx, {"deploy_public_key": deploy_key()})

    assert result["changes"][0] == "created group docker"
    assert "kamal" in _rows(root / "etc/group")["docker"][3]


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        (None, "deploy_public_key is required"),
        ("", "deploy_public_key is required"),
        ("ssh-ed25519", "one OpenSSH public key line"),
        ("ssh-dss AAAAB3NzaC1kc3MAAA== x", "unsupported key type"),
        ('command="rm -rf /" ssh-ed25519 AAAA', "unsupported key type"),
        ("ssh-ed25519 not*base64!", "not valid base64"),
        ("ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIA==", "does not hold a ssh-rsa key"),
    ],
)
def test_harden_refuses_a_bad_deploy_key(ctx, root, key, problem):
    with pytest.raises(InvalidParams, match=problem):
        harden(ctx, {"deploy_public_key": key})
    assert not (root / "home/kamal").exists()  # nothing done before the refusal


def test_harden_refuses_a_key_with_a_second_line(ctx):
    smuggled = f"{deploy_key()}\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA== attacker"
    with pytest.raises(InvalidParams, match="one OpenSSH public key line"):
        harden(ctx, {"deploy_public_key": smuggled})


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("10.0.0.0/8", "must be a list"),
        ([10], "must be a list"),
        (["10.0.0.0/33"], "not an IP network"),
        (["example.com"], "not an IP network"),
    ],
)
def test_harden_refuses_bad_ssh_sources(ctx, value, problem):
    with pytest.raises(InvalidParams, match=problem):
        harden(ctx, {"deploy_public_key": deploy_key(), "ssh_allow_from": value})


def test_ssh_stays_open_to_all_without_sources_and_closed_with_an_empty_list():
    open_rules = render_nftables(ssh_sources(None))
    closed_rules = render_nftables(ssh_sources([]))

    assert "\t\ttcp dport 22 accept" in open_rules
    assert "dport 22" not in closed_rules.split("\n", 1)[1]  # only the header comment names 22
    assert "22 from nowhere" in closed_rules


def test_a_host_address_becomes_a_single_host_network():
    rules = render_nftables(ssh_sources(["198.51.100.7", "10.1.2.3/8"]))
    assert "ip saddr { 198.51.100.7/32, 10.0.0.0/8 } tcp dport 22 accept" in rules


def test_during_a_key_rotation_both_keys_are_authorized_then_only_the_new_one(ctx, root):
    old, new = deploy_key("old"), deploy_key("new")
    keys = root / "home/kamal/.ssh/authorized_keys"

    harden(ctx, {"deploy_public_key": old, "rotating_public_key": new})
    assert [line for line in keys.read_text().splitlines() if not line.startswith("#")] == [
        old,
        new,
    ]
    harden(ctx, {"deploy_public_key": new})
    assert [line for line in keys.read_text().splitlines() if not line.startswith("#")] == [new]
    with pytest.raises(InvalidParams):
        harden(ctx, {"deploy_public_key": new, "rotating_public_key": f"{old}\ncommand=x {old}"})
