"""diagnose and register: what an operator and the server learn about the VM."""

from __future__ import annotations

import asyncio
import os

from agent_unit_support import add_container

from vmkit_agent.errors import DockerUnavailable
from vmkit_agent.handlers.diagnose import diagnose
from vmkit_agent.handlers.register import register


def _run(ctx):
    return asyncio.run(diagnose(ctx, {}))


def test_diagnose_gathers_agent_host_docker_disk_memory_and_containers(ctx, root):
    async def latency():
        return 0.0123

    ctx.gateway_latency = latency
    ctx.state.clock_skew_s, ctx.state.clock_source = -0.25, "register_reply"
    ctx.state.gateway_url = "wss://gw.example/agent?X-Amz-Signature=secret"
    ctx.state.recent_errors = [{"ts": "2026-11-23T10:00:00Z", "level": "error", "message": "boom"}]
    add_container(root, "web", health="unhealthy")
    add_container(root, "old", state="exited", health="none")

    report = _run(ctx)

    assert report["agent"]["version"] == "1.2.3"
    assert report["agent"]["mode"] == "sandbox" and report["agent"]["pid"] == os.getpid()
    assert report["agent"]["uptime_s"] >= 0
    assert report["host"]["os"] == "Debian GNU/Linux 12 (bookworm)"
    assert report["host"]["uptime_s"] > 0
    assert report["docker"]["status"] == "running"
    assert {c["name"]: (c["state"], c["health"]) for c in report["containers"]} == {
        "web": ("running", "unhealthy"),
        "old": ("exited", "none"),
    }
    assert report["disk"]["total_bytes"] > report["disk"]["used_bytes"] > 0
    assert 0 < report["memory"]["pct"] < 100
    assert report["recent_errors"][0]["message"] == "boom"
    assert report["clock"] == {"skew_s": -0.25, "source": "register_reply"}
    assert report["gateway"] == {"url": "wss://gw.example/agent", "latency_ms": 12.3}


def test_diagnose_reports_an_unreachable_docker_instead_of_failing(ctx, monkeypatch):
    def refuse(*_, **__):
        raise DockerUnavailable("cannot reach the Docker daemon at /var/run/docker.sock")

    monkeypatch.setattr(ctx.host, "docker_status", refuse)
    monkeypatch.setattr(ctx.host, "containers", refuse)

    report = _run(ctx)

    assert report["docker"] == {
        "status": "unreachable",
        "error": "cannot reach the Docker daemon at /var/run/docker.sock",
    }
    assert report["containers"] == {
        "error": "cannot reach the Docker daemon at /var/run/docker.sock"
    }
    assert report["gateway"]["latency_ms"] is None  # not connected


def test_register_says_who_the_agent_is(ctx):
    ctx.state.local_ip = "203.0.113.9"

    assert register(ctx, {}) == {
        "version": "1.2.3",
        "instance_id": "i-test",
        "ip": "203.0.113.9",
        "os": "Debian GNU/Linux 12 (bookworm)",
        "arch": {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine),
    }


def test_register_falls_back_to_the_kernel_name_without_os_release(ctx, root):
    (root / "etc/os-release").unlink()
    assert register(ctx, {})["os"] == f"{os.uname().sysname} {os.uname().release}"
