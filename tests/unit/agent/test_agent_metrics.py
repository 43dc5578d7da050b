"""metrics_collect (the heartbeat's payload) on a fake root with pinned /proc values."""

from __future__ import annotations

import re

from agent_unit_support import add_container

from vmkit_agent.errors import DockerUnavailable
from vmkit_agent.handlers.metrics import collect, metrics_collect
from vmkit_agent.host.sandbox import CONTAINERS_DIR

MEMINFO = "MemTotal:        4000000 kB\nMemFree:          500000 kB\nMemAvailable:    1000000 kB\n"


def _stat(user: int, idle: int) -> str:
    # user nice system idle iowait irq softirq steal guest guest_nice
    return f"cpu  {user} 0 0 {idle} 0 0 0 0 0 0\ncpu0 {user} 0 0 {idle} 0 0 0 0 0 0\n"


def _pin_proc(root, *, stat: str) -> None:
    (root / "proc").mkdir(exist_ok=True)
    (root / "proc/stat").write_text(stat)
    (root / "proc/meminfo").write_text(MEMINFO)


def test_metrics_report_cpu_since_the_previous_sample_memory_and_disk(ctx, root):
    _pin_proc(root, stat=_stat(user=1000, idle=9000))
    ctx.state.cpu_baseline = (0.0, 1000, 10000)  # an old baseline (more than 1 s ago)
    _pin_proc(root, stat=_stat(user=1300, idle=9700))  # +300 busy of +1000

    metrics = metrics_collect(ctx, {})

    assert metrics["cpu_pct"] == 30.0
    assert metrics["mem_pct"] == 75.0  # (4 000 000 - 1 000 000) / 4 000 000
    assert 0.0 < metrics["disk_pct"] <= 100.0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", metrics["collected_at"])
    assert "errors" not in metrics


def test_the_first_cpu_sample_covers_the_time_since_boot(ctx, root):
    _pin_proc(root, stat=_stat(user=250, idle=750))

    assert metrics_collect(ctx, {})["cpu_pct"] == 25.0
    assert ctx.state.cpu_baseline[1:] == (250, 1000)


def test_metrics_count_running_containers_and_map_their_health(ctx, root):
    add_container(root, "web", health="healthy")
    add_container(root, "worker", health="starting")
    add_container(root, "old", state="exited", health="unhealthy")
    add_container(root, "odd", health="weird")

    metrics = metrics_collect(ctx, {})

    assert metrics["container_count"] == 3
    assert metrics["container_health"] == {"odd": "none", "web": "healthy", "worker": "starting"}


def test_an_unreadable_container_record_is_skipped(ctx, root):
    add_container(root, "web")
    (root / CONTAINERS_DIR.lstrip("/") / "broken.json").write_text("{not json")

    assert metrics_collect(ctx, {})["container_health"] == {"web": "healthy"}


def test_docker_being_down_does_not_hide_the_other_figures(ctx, root, monkeypatch):
    _pin_proc(root, stat=_stat(user=1, idle=3))

    def refuse(**_):
        raise DockerUnavailable("cannot reach the Docker daemon at /var/run/docker.sock")

    monkeypatch.setattr(ctx.host, "containers", refuse)
    metrics = collect(ctx.host, ctx.state)

    assert metrics["mem_pct"] == 75.0
    assert metrics["container_count"] is None and metrics["container_health"] == {}
    assert metrics["errors"] == [
        "containers: cannot reach the Docker daemon at /var/run/docker.sock"
    ]
