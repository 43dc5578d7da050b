"""SSH ingress on a fake root: 22 from GitHub's `/meta` runner ranges plus the
environment's networks, refreshed when GitHub's ranges change, never opened wider when
GitHub cannot be asked. `/meta` is the GitHub simulator's, served over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from agent_unit_support import deploy_key

from vmkit_agent import client, ingress
from vmkit_agent.errors import HostError, InvalidParams
from vmkit_agent.handlers.harden import harden
from vmkit_agent.host.sandbox import FIREWALL_PATH
from vmkit_local.simulators import GitHubSimulator, serve_in_thread


@pytest.fixture
def github() -> Iterator[tuple[GitHubSimulator, str]]:
    sim = GitHubSimulator()
    url, stop = serve_in_thread(sim.app)
    sim.meta.set_actions_ranges(["4.148.0.0/16", "4.148.7.0/24", "2603:1030:a0a::/48"])
    yield sim, f"{url}/meta"
    stop()
    sim.close()


def _ssh_rules(root) -> list[str]:
    text = (root / FIREWALL_PATH.lstrip("/")).read_text()
    return [line.strip() for line in text.splitlines() if "dport 22" in line]


def test_harden_allows_22_from_githubs_runners_and_the_extra_networks_only(ctx, root, github):
    _, meta_url = github
    result = harden(
        ctx,
        {
            "deploy_public_key": deploy_key(),
            "ssh_ingress": {"github_meta_url": meta_url, "allow_from": ["198.51.100.7/32"]},
        },
    )
    assert result["ok"]
    # collapsed (4.148.7.0/24 is inside 4.148.0.0/16): no overlapping set intervals
    assert _ssh_rules(root) == [
        "ip saddr { 4.148.0.0/16, 198.51.100.7/32 } tcp dport 22 accept",
        "ip6 saddr { 2603:1030:a0a::/48 } tcp dport 22 accept",
    ]
    rules = (root / FIREWALL_PATH.lstrip("/")).read_text()
    assert "tcp dport { 80, 443 } accept" in rules and "policy drop" in rules
    state = json.loads((root / ingress.STATE_PATH.lstrip("/")).read_text())
    assert state["github_meta_url"] == meta_url and state["etag"]
    assert client.SSH_INGRESS_STATE == ingress.STATE_PATH


def test_a_heartbeat_refresh_reloads_the_rules_only_when_githubs_ranges_change(
    ctx, host, root, github
):
    sim, meta_url = github
    harden(ctx, {"deploy_public_key": deploy_key(), "ssh_ingress": {"github_meta_url": meta_url}})
    assert ingress.refresh(host) == []  # 304: nothing to do
    sim.meta.set_actions_ranges(["4.148.0.0/16", "20.33.0.0/16"])

    changes = ingress.refresh(host)

    assert changes and _ssh_rules(root) == [
        "ip saddr { 4.148.0.0/16, 20.33.0.0/16 } tcp dport 22 accept"
    ]
    assert ingress.refresh(host) == []


def test_when_github_cannot_be_asked_harden_changes_nothing_and_refresh_keeps_the_rules(
    ctx, host, root, github
):
    _, meta_url = github
    gone = "http://127.0.0.1:9/meta"  # nothing listens on the discard port
    with pytest.raises(HostError) as refused:
        harden(ctx, {"deploy_public_key": deploy_key(), "ssh_ingress": {"github_meta_url": gone}})
    assert (
        refused.value.code == "meta_unavailable" and "nothing was changed" in refused.value.message
    )
    assert not (root / "home/kamal").exists() and not (root / FIREWALL_PATH.lstrip("/")).exists()

    harden(ctx, {"deploy_public_key": deploy_key(), "ssh_ingress": {"github_meta_url": meta_url}})
    before = _ssh_rules(root)
    state_path = root / ingress.STATE_PATH.lstrip("/")
    state = json.loads(state_path.read_text())
    state_path.write_text(json.dumps({**state, "github_meta_url": gone, "etag": None}))
    assert ingress.refresh(host) == []
    assert _ssh_rules(root) == before


def test_without_a_harden_that_set_up_ingress_a_refresh_does_nothing(host, root):
    assert ingress.refresh(host) == []
    assert not (root / FIREWALL_PATH.lstrip("/")).exists()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("https://api.github.com/meta", "must be an object"),
        ({"github_meta_url": "file:///etc/passwd"}, "http(s) URL"),
        ({"github_meta_url": "https://x/meta", "allow_from": "10.0.0.0/8"}, "list of CIDR"),
        ({"github_meta_url": "https://x/meta", "allow_from": ["10.0.0.0/33"]}, "not an IP network"),
    ],
)
def test_bad_ssh_ingress_is_refused_with_a_clear_error(ctx, root, value, message):
    with pytest.raises(InvalidParams) as refused:
        harden(ctx, {"deploy_public_key": deploy_key(), "ssh_ingress": value})
    assert message in refused.value.message
    assert not (root / "home/kamal").exists()
