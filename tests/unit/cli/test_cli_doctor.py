"""`vmkit doctor`'s checks: which facts are problems, and what it says to do."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from vmkit.schemas import Diagnosis, InstancePublic
from vmkit_cli import doctor

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _instance(**fields: Any) -> InstancePublic:
    record = {
        "id": "ins_1",
        "environment_id": "env_1",
        "provider": "local",
        "provider_server_id": "1001",
        "ip": "203.0.113.1",
        "server_type": "cax11",
        "region": "fsn1",
        "status": "running",
        "agent_connected": True,
        "agent_version": "0.1.0",
        "last_seen_at": NOW,
        "hardened_at": NOW,
        "metrics": None,
        "metrics_at": None,
        "metrics_stale": True,
        "created_at": NOW,
    }
    return InstancePublic.model_validate({**record, **fields})


def _report(**overrides: Any) -> Diagnosis:
    report = {
        "agent": {"version": "0.1.0"},
        "docker": {"status": "running"},
        "containers": [
            {"name": "kamal-proxy", "image": "p", "state": "running", "health": "healthy"},
            {"name": "shop-web-abc", "image": "a", "state": "running", "health": "healthy"},
            {"name": "shop-web-old", "image": "a", "state": "exited", "health": "none"},
        ],
        "disk": {"pct": 40.0},
        "memory": {"pct": 35.0},
        "clock": {"skew_s": 0.2},
        "recent_errors": [{"ts": "t", "level": "warning", "message": "reconnected"}],
    }
    return Diagnosis.model_validate({**report, **overrides})


def _problems(findings) -> dict[str, str]:
    return {f.check: f.fix or "" for f in findings if not f.ok}


def test_a_healthy_vm_passes_and_a_stopped_old_release_is_normal():
    findings = doctor.check("production", _instance(), None, _report())
    assert _problems(findings) == {}
    assert any(f.check == "app" and "shop-web-abc" in f.detail for f in findings)


def test_each_problem_comes_with_what_to_do():
    report = _report(
        docker={"status": "unreachable", "error": "no socket"},
        containers=[
            {"name": "shop-web-abc", "image": "a", "state": "running", "health": "unhealthy"}
        ],
        disk={"pct": 97.0},
        memory={"pct": 93.5},
        clock={"skew_s": -42.0},
        recent_errors=[{"ts": "t", "level": "error", "message": "harden failed"}],
    )
    problems = _problems(doctor.check("production", _instance(), None, report))
    assert set(problems) == {"docker", "app", "disk", "memory", "clock", "agent errors"}
    assert "vmkit logs production --container shop-web-abc" in problems["app"]
    assert "docker image prune" in problems["disk"] and "timedatectl" in problems["clock"]


def test_no_app_running_is_a_problem():
    report = _report(
        containers=[{"name": "kamal-proxy", "image": "p", "state": "running", "health": "none"}]
    )
    assert (
        "vmkit deploy production"
        in _problems(doctor.check("production", _instance(), None, report))["app"]
    )


def test_no_vm_and_an_offline_agent_say_what_to_do():
    assert (
        "vmkit deploy production" in _problems(doctor.check("production", None, None, None))["VM"]
    )
    offline = doctor.check(
        "production", _instance(agent_connected=False), None, None, "agent_unavailable"
    )
    assert "still booting" in _problems(offline)["agent"]
