"""agent_upgrade on a fake root: verified replacement, and refusals that keep the old agent."""

from __future__ import annotations

import hashlib
import stat

import pytest

from vmkit_agent.context import Reply
from vmkit_agent.errors import ChecksumMismatch, DownloadFailed, InvalidParams
from vmkit_agent.handlers import upgrade
from vmkit_agent.handlers.upgrade import agent_upgrade
from vmkit_agent.testing import FileServer

OLD_AGENT = b"PK old agent build"
NEW_AGENT = b"PK new agent build " * 1000


@pytest.fixture
def files():
    server = FileServer()
    yield server
    server.close()


@pytest.fixture
def installed(root):
    path = root / "usr/local/bin/vmkit-agent"
    path.parent.mkdir(parents=True)
    path.write_bytes(OLD_AGENT)
    path.chmod(0o755)
    return path


def _leftovers(installed):
    return [p.name for p in installed.parent.iterdir() if p.name != "vmkit-agent"]


def test_upgrade_installs_the_verified_build_and_asks_for_a_restart(ctx, root, files, installed):
    url = files.serve("/agent/2.0.0/vmkit-agent.pyz", NEW_AGENT)
    digest = hashlib.sha256(NEW_AGENT).hexdigest()

    reply = agent_upgrade(ctx, {"version": "2.0.0", "download_url": url, "checksum_sha256": digest})

    assert reply == Reply({"status": "upgrading", "version": "2.0.0"}, restart_agent=True)
    assert installed.read_bytes() == NEW_AGENT
    assert stat.S_IMODE(installed.stat().st_mode) == 0o755
    assert (
        root / "etc/vmkit/agent.sha256"
    ).read_text() == f"{digest}  /usr/local/bin/vmkit-agent\n"
    assert _leftovers(installed) == []


def test_upgrade_accepts_an_uppercase_checksum(ctx, files, installed):
    url = files.serve("/a.pyz", NEW_AGENT)
    digest = hashlib.sha256(NEW_AGENT).hexdigest().upper()

    agent_upgrade(ctx, {"version": "2.0.0", "download_url": url, "checksum_sha256": digest})

    assert installed.read_bytes() == NEW_AGENT


def test_a_checksum_mismatch_keeps_the_installed_agent(ctx, files, installed):
    url = files.serve("/a.pyz", NEW_AGENT) + "?X-Amz-Signature=secretsig"
    wrong = hashlib.sha256(b"something else").hexdigest()

    with pytest.raises(ChecksumMismatch) as refused:
        agent_upgrade(ctx, {"version": "2.0.0", "download_url": url, "checksum_sha256": wrong})

    assert installed.read_bytes() == OLD_AGENT
    assert stat.S_IMODE(installed.stat().st_mode) == 0o755
    assert _leftovers(installed) == []
    message = refused.value.message
    assert hashlib.sha256(NEW_AGENT).hexdigest() in message and wrong in message
    assert "kept the installed agent 1.2.3" in message
    assert "secretsig" not in message  # a presigned URL's signature is a credential


def test_a_missing_download_keeps_the_installed_agent(ctx, files, installed):
    with pytest.raises(DownloadFailed, match="HTTP 404"):
        agent_upgrade(
            ctx,
            {"version": "2.0.0", "download_url": files.url("/nope"), "checksum_sha256": "a" * 64},
        )
    assert installed.read_bytes() == OLD_AGENT
    assert _leftovers(installed) == []


def test_an_oversized_download_is_refused(ctx, files, installed, monkeypatch):
    monkeypatch.setattr(upgrade, "MAX_AGENT_BYTES", 1000)
    url = files.serve("/a.pyz", NEW_AGENT)

    with pytest.raises(DownloadFailed, match="exceeds 1000 bytes"):
        agent_upgrade(
            ctx,
            {
                "version": "2.0.0",
                "download_url": url,
                "checksum_sha256": hashlib.sha256(NEW_AGENT).hexdigest(),
            },
        )
    assert installed.read_bytes() == OLD_AGENT


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"download_url": "http://x/a", "checksum_sha256": "a" * 64}, "version is required"),
        ({"version": "1 2", "download_url": "http://x/a", "checksum_sha256": "a" * 64}, "version"),
        (
            {"version": "2.0.0", "download_url": "file:///etc/passwd", "checksum_sha256": "a" * 64},
            "http",
        ),
        ({"version": "2.0.0", "download_url": "http://x/a b", "checksum_sha256": "a" * 64}, "http"),
        ({"version": "2.0.0", "checksum_sha256": "a" * 64}, "download_url is required"),
        (
            {"version": "2.0.0", "download_url": "http://x/a", "checksum_sha256": "abc"},
            "64 hexadecimal",
        ),
        ({"version": "2.0.0", "download_url": "http://x/a"}, "checksum_sha256 is required"),
    ],
)
def test_upgrade_refuses_bad_parameters_without_downloading(ctx, files, installed, params, problem):
    with pytest.raises(InvalidParams, match=problem):
        agent_upgrade(ctx, params)
    assert files.requests == []
    assert installed.read_bytes() == OLD_AGENT
