"""The agent against an in-test gateway: register, heartbeat, calls and replies,
refusals, reconnects, and a planned reconnect that loses no reply."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import threading
import time

import pytest
from agent_integration_support import INSTANCE_ID, TOKEN, add_container, make_root, running_agent

from vmkit_agent.host.sandbox import SandboxHost
from vmkit_agent.logsetup import configure_logging
from vmkit_agent.protocol import MAX_MESSAGE_BYTES
from vmkit_agent.redact import Redactor
from vmkit_agent.testing import TestGateway


@pytest.fixture
def root(tmp_path):
    return make_root(tmp_path)


def test_the_agent_registers_on_connect(root):
    async def scenario():
        async with (
            TestGateway(tokens=[TOKEN]) as gateway,
            running_agent(gateway.url, root) as agent,
        ):
            conn = await gateway.registered(0)
            assert conn.register["type"] == "event"
            params = conn.register["params"]
            assert params["version"] == agent.state.version
            assert params["instance_id"] == INSTANCE_ID
            assert params["ip"] == "127.0.0.1"
            assert params["os"] and params["arch"]
            # The register reply's server_time gives the clock skew diagnose reports.
            await gateway.wait_for(lambda: agent.state.clock_source == "register_reply")
            assert abs(agent.state.clock_skew_s) < 1.0

    asyncio.run(scenario())


def test_heartbeats_carry_fresh_metrics(root):
    async def scenario():
        async with (
            TestGateway(tokens=[TOKEN]) as gateway,
            running_agent(gateway.url, root, heartbeat_seconds=0.05),
        ):
            conn = await gateway.registered(0)
            beats = await conn.wait_heartbeats(3)
            assert set(beats[0]["metrics"]) >= {
                "cpu_pct",
                "mem_pct",
                "disk_pct",
                "container_count",
                "container_health",
                "collected_at",
            }
            stamps = [b["metrics"]["collected_at"] for b in beats[:3]]
            assert stamps == sorted(stamps) and len(set(stamps)) == 3
            uptimes = [b["uptime_s"] for b in beats[:3]]
            assert uptimes == sorted(uptimes) and uptimes[0] < uptimes[2]

    asyncio.run(scenario())


def test_a_call_gets_its_reply(root):
    async def scenario():
        async with TestGateway(tokens=[TOKEN]) as gateway, running_agent(gateway.url, root):
            conn = await gateway.registered(0)
            reply = await gateway.call(conn, "metrics_collect")
            assert reply["type"] == "result" and reply["method"] == "metrics_collect"
            assert reply["result"]["container_count"] == 0

            report = await gateway.call(conn, "diagnose")
            assert report["result"]["gateway"]["latency_ms"] is not None  # a real ping
            assert report["result"]["agent"]["connections_opened"] == 1

    asyncio.run(scenario())


def test_malformed_messages_and_unknown_methods_get_errors_and_the_connection_stays(root):
    async def scenario():
        async with TestGateway(tokens=[TOKEN]) as gateway, running_agent(gateway.url, root):
            conn = await gateway.registered(0)
            await gateway.send_raw(conn, "this is not json")
            await gateway.send_raw(conn, b"\x00binary")
            await gateway.send_raw(conn, json.dumps({"id": "e1", "type": "event", "method": "hi"}))
            await gateway.wait_for(lambda: len(gateway.unmatched) == 3)
            assert [(m["id"], m["type"], m["error"]["code"]) for m in gateway.unmatched] == [
                (None, "error", "malformed_message"),
                (None, "error", "malformed_message"),
                ("e1", "error", "malformed_message"),
            ]
            assert "not valid JSON" in gateway.unmatched[0]["error"]["message"]

            unknown = await gateway.call(conn, "format_disk", {"really": True})
            assert unknown["error"]["code"] == "unknown_method"
            refused = await gateway.call(conn, "logs_fetch", {"container": "web", "lines": 9000})
            assert refused["error"] == {
                "code": "invalid_params",
                "message": "lines must be from 1 to 5000, got 9000",
            }
            missing = await gateway.call(conn, "logs_fetch", {"container": "web"})
            assert missing["error"]["code"] == "not_found"

            assert (await gateway.call(conn, "metrics_collect"))["type"] == "result"
            assert len(gateway.connections) == 1 and not conn.closed.is_set()

    asyncio.run(scenario())


def test_long_logs_arrive_in_chunks_under_the_frame_limit(root):
    lines = [
        f"2026-11-23T10:{i // 60 % 60:02d}:{i % 60:02d}.000Z GET /item/{i} 200 {'ü' * 80}"
        for i in range(7000)
    ]
    add_container(root, "web", lines)

    async def scenario():
        async with TestGateway(tokens=[TOKEN]) as gateway, running_agent(gateway.url, root):
            conn = await gateway.registered(0)
            reply = await gateway.call(conn, "logs_fetch", {"container": "web", "lines": 5000})

            assert reply["frames"] > 10
            assert max(len(f.encode()) for f in conn.frames) <= MAX_MESSAGE_BYTES
            got = reply["result"]["lines"]
            assert [f"{line['ts']} {line['text']}" for line in got] == lines[-5000:]

    asyncio.run(scenario())


def test_a_dropped_connection_is_reestablished(root, capsys):
    async def scenario():
        async with (
            TestGateway(tokens=[TOKEN]) as gateway,
            running_agent(gateway.url, root, heartbeat_seconds=0.05),
        ):
            first = await gateway.registered(0)
            await first.wait_heartbeats(2)  # a stable connection, then the network fails
            dropped_at = time.monotonic()
            gateway.drop(first)

            second = await gateway.registered(1)
            elapsed = time.monotonic() - dropped_at
            assert second.register["params"]["instance_id"] == INSTANCE_ID
            assert (await gateway.call(second, "metrics_collect"))["type"] == "result"
            return elapsed

    elapsed = asyncio.run(scenario())
    with capsys.disabled():
        print(f"\n  reconnect after a drop: {elapsed * 1000:.0f} ms")


@pytest.fixture
def agent_log():
    """The agent's log as a journal would get it (debug level, through the redactor)."""
    root_logger = logging.getLogger()
    saved_handlers, saved_level = list(root_logger.handlers), root_logger.level
    stream = io.StringIO()
    configure_logging("debug", Redactor([TOKEN]), stream=stream)
    yield stream
    root_logger.handlers[:] = saved_handlers
    root_logger.setLevel(saved_level)


def _retries(text: str) -> list[tuple[float, int]]:
    """(delay, attempt) of every "retrying in"/"reconnecting in" line."""
    found = re.findall(r"(?:retrying|reconnecting) in ([\d.]+)s \(attempt (\d+)\)", text)
    return [(float(delay), int(attempt)) for delay, attempt in found]


def test_a_bad_token_is_refused_and_retried_with_backoff_without_logging_it(root, agent_log):
    async def scenario():
        async with (
            TestGateway(tokens=["vmka_other_token"]) as gateway,
            running_agent(gateway.url, root, backoff_base_seconds=0.02, backoff_max_seconds=0.2),
        ):
            await gateway.wait_for(lambda: gateway.refusals >= 4)
            assert gateway.connections == []

    asyncio.run(scenario())

    text = agent_log.getvalue()
    assert "s3cr3t" not in text and TOKEN not in text
    assert text.count("refused the agent token (HTTP 401)") >= 3
    retries = _retries(text)
    assert [attempt for _, attempt in retries[:3]] == [1, 2, 3]
    # Each delay is drawn under a ceiling that doubles from the base up to the cap.
    assert all(delay <= min(0.2, 0.02 * 2 ** (attempt - 1)) + 0.005 for delay, attempt in retries)


def test_a_gateway_that_drops_every_connection_at_once_gets_growing_backoff(root, agent_log):
    async def scenario():
        async with (
            TestGateway(tokens=[TOKEN]) as gateway,
            running_agent(gateway.url, root, backoff_base_seconds=0.01, backoff_max_seconds=0.1),
        ):
            for index in range(4):
                gateway.drop(await gateway.registered(index))
            await gateway.registered(4)

    asyncio.run(scenario())

    assert [attempt for _, attempt in _retries(agent_log.getvalue())][:4] == [1, 2, 3, 4]


def test_a_stable_connection_that_drops_reconnects_from_the_first_backoff_step(root, agent_log):
    async def scenario():
        async with (
            TestGateway(tokens=[TOKEN]) as gateway,
            running_agent(gateway.url, root, heartbeat_seconds=0.05),
        ):
            for index in range(3):
                conn = await gateway.registered(index)
                await conn.wait_heartbeats(2)  # lived through a heartbeat interval
                gateway.drop(conn)
            await gateway.registered(3)

    asyncio.run(scenario())

    assert [attempt for _, attempt in _retries(agent_log.getvalue())] == [1, 1, 1]


class _BlockingLogsHost(SandboxHost):
    """A host whose logs stay in flight until the test releases them."""

    def __init__(self, root):
        super().__init__(root)
        self.entered = threading.Event()
        self.release = threading.Event()

    def container_logs(self, name, lines):
        self.entered.set()
        assert self.release.wait(10)
        return super().container_logs(name, lines)


def test_a_planned_reconnect_loses_no_in_flight_reply(root):
    add_container(root, "web", ["2026-11-23T10:00:00Z hello"])
    host = _BlockingLogsHost(root)

    async def scenario():
        async with (
            TestGateway(tokens=[TOKEN]) as gateway,
            running_agent(gateway.url, root, host=host, max_connection_seconds=0.3),
        ):
            old = await gateway.registered(0)
            call = gateway.start_call(old, "logs_fetch", {"container": "web"})
            await asyncio.to_thread(host.entered.wait, 10)

            new = await gateway.registered(1)  # make before break: opened while old is busy
            assert not old.closed.is_set()
            host.release.set()

            reply = await call
            assert reply["result"]["lines"] == [{"ts": "2026-11-23T10:00:00Z", "text": "hello"}]
            await asyncio.wait_for(old.closed.wait(), 10)
            assert old.close_code == 1000
            assert any(reply["id"] in frame for frame in old.frames)  # answered where asked
            assert (await gateway.call(new, "metrics_collect"))["type"] == "result"

    asyncio.run(scenario())


def test_a_reply_outlives_a_dropped_connection(root):
    add_container(root, "web", ["2026-11-23T10:00:00Z hello"])
    host = _BlockingLogsHost(root)

    async def scenario():
        async with (
            TestGateway(tokens=[TOKEN]) as gateway,
            running_agent(gateway.url, root, host=host),
        ):
            first = await gateway.registered(0)
            call = gateway.start_call(first, "logs_fetch", {"container": "web"})
            await asyncio.to_thread(host.entered.wait, 10)
            gateway.drop(first)

            second = await gateway.registered(1)
            host.release.set()

            reply = await call
            assert reply["result"]["lines"][0]["text"] == "hello"
            assert any(reply["id"] in frame for frame in second.frames)  # handed over

    asyncio.run(scenario())


def test_stopping_the_agent_closes_with_going_away(root):
    async def scenario():
        async with TestGateway(tokens=[TOKEN]) as gateway:
            async with running_agent(gateway.url, root):
                conn = await gateway.registered(0)
            await asyncio.wait_for(conn.closed.wait(), 5)
            assert conn.close_code == 1001

    asyncio.run(scenario())


def test_the_agent_reloads_the_ssh_rules_on_a_heartbeat_after_github_changes_its_ranges(root):
    from agent_integration_support import deploy_public_key

    from vmkit_agent.host.sandbox import FIREWALL_PATH
    from vmkit_local.simulators import GitHubSimulator, serve_in_thread

    github = GitHubSimulator()
    url, stop = serve_in_thread(github.app)
    github.meta.set_actions_ranges(["4.148.0.0/16"])
    rules = root / FIREWALL_PATH.lstrip("/")

    def ssh_line() -> str:
        return next(line for line in rules.read_text().splitlines() if "dport 22" in line)

    async def scenario():
        async with (
            TestGateway(tokens=[TOKEN]) as gateway,
            running_agent(gateway.url, root, heartbeat_seconds=0.05),
        ):
            conn = await gateway.registered(0)
            params = {
                "deploy_public_key": deploy_public_key(),
                "ssh_ingress": {"github_meta_url": f"{url}/meta", "allow_from": []},
            }
            reply = await gateway.call(conn, "harden", params)
            assert reply["type"] == "result", reply
            assert "4.148.0.0/16" in ssh_line()
            github.meta.set_actions_ranges(["4.148.0.0/16", "20.33.0.0/16"])
            await gateway.wait_for(lambda: "20.33.0.0/16" in ssh_line(), timeout=10)
            assert "tcp dport { 80, 443 } accept" in rules.read_text()

    try:
        asyncio.run(scenario())
    finally:
        stop()
        github.close()


def test_a_rotated_token_is_kept_for_restarts_and_the_agent_reconnects_with_it(root, capsys):
    new_token = "vmka_0123456789abcdef_" + "N" * 43
    (root / "etc/vmkit").mkdir(parents=True)
    (root / "etc/vmkit/agent.env").write_text(
        f"VMKIT_AGENT_TOKEN={TOKEN}\nVMKIT_GATEWAY_URL=wss://gw.example/agents\n"
    )

    async def scenario():
        async with TestGateway(tokens=[TOKEN]) as gateway, running_agent(gateway.url, root):
            first = await gateway.registered(0)
            gateway.tokens = {new_token}  # the control plane refuses the old one once promoted
            reply = await gateway.call(first, "rotate_token", {"token": new_token})
            assert reply["result"] == {"ok": True, "reconnecting": True}
            second = await gateway.registered(1)
            await asyncio.wait_for(first.closed.wait(), 10)  # the old connection is retired
            assert second.register["params"]["instance_id"] == INSTANCE_ID
            assert gateway.refusals == 0  # it never tried the old token again

    asyncio.run(scenario())
    env = (root / "etc/vmkit/agent.env").read_text()
    assert f"VMKIT_AGENT_TOKEN={new_token}\n" in env and TOKEN not in env
    assert "VMKIT_GATEWAY_URL=wss://gw.example/agents" in env
    assert new_token not in capsys.readouterr().err  # never logged


def test_a_malformed_token_is_refused_and_nothing_changes(root):
    async def scenario():
        async with TestGateway(tokens=[TOKEN]) as gateway, running_agent(gateway.url, root):
            conn = await gateway.registered(0)
            reply = await gateway.call(conn, "rotate_token", {"token": "not-a-token"})
            assert reply["type"] == "error" and reply["error"]["code"] == "invalid_params"
            assert len(gateway.connections) == 1

    asyncio.run(scenario())
    assert not (root / "etc/vmkit/agent.env").exists()
