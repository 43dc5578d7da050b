"""Agent figures: idle memory next to the bare-interpreter floor, memory after many
heartbeats, reconnect time after a gateway drop, and a metrics_collect round trip.

The agent is the built zipapp on a bare interpreter (`python3 -I -S`, as on a VM) in
sandbox mode, connected to an in-process test gateway over loopback. Run with
`python -m bench.agent_bench` (or through `make bench`).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import websockets

from vmkit_agent.build import build_agent
from vmkit_agent.testing import TestGateway

TOKEN = "vmka_bench_notasecret"  # noqa: S105 (the test gateway's only token)
BARE_PYTHON = getattr(sys, "_base_executable", sys.executable)
RSS_TARGET_RATIO = 1.15
FLOOR_SCRIPT = (
    "import sys; sys.path.insert(0, {path!r}); import ssl, websockets.asyncio.client; "
    "print('ready', flush=True); sys.stdin.read()"
)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def floor_mb(import_path: str, runs: int) -> float:
    """RSS of a process that only imports ssl and the websockets asyncio client."""
    samples = []
    for _ in range(runs):
        proc = await asyncio.create_subprocess_exec(
            BARE_PYTHON,
            "-I",
            "-S",
            "-c",
            FLOOR_SCRIPT.format(path=import_path),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        await proc.stdout.readline()
        samples.append(rss_mb(proc.pid))
        proc.stdin.close()
        await proc.wait()
    return statistics.median(samples)


async def start_agent(
    pyz: Path, root: Path, url: str, heartbeat: float
) -> asyncio.subprocess.Process:
    env = {
        "VMKIT_AGENT_TOKEN": TOKEN,
        "VMKIT_GATEWAY_URL": url,
        "VMKIT_INSTANCE_ID": "ins_bench",
        "VMKIT_ROOT": str(root),
        "VMKIT_HEARTBEAT_SECONDS": str(heartbeat),
        "VMKIT_LOG_LEVEL": "error",  # the drops are on purpose
    }
    return await asyncio.create_subprocess_exec(BARE_PYTHON, "-I", "-S", str(pyz), env=env)


async def stop(proc: asyncio.subprocess.Process) -> None:
    proc.terminate()
    await proc.wait()


async def measure(
    pyz: Path, root: Path, *, runs: int, heartbeats: int, drops: int, calls: int
) -> dict:
    figures: dict = {}
    figures["floor_installed_mb"] = await floor_mb(
        str(Path(websockets.__file__).parent.parent), runs
    )
    figures["floor_vendored_mb"] = await floor_mb(f"{pyz}/_vendor", runs)

    async with TestGateway(tokens=[TOKEN]) as gateway:
        idle = []
        for _ in range(runs):
            index = len(gateway.connections)
            proc = await start_agent(pyz, root, gateway.url, heartbeat=30)
            conn = await gateway.registered(index)
            await conn.wait_heartbeats(1)
            await gateway.call(conn, "metrics_collect")
            idle.append(rss_mb(proc.pid))
            await stop(proc)
        figures["agent_idle_mb"] = statistics.median(idle)

        # Memory over many heartbeats, then reconnects and round trips on the same agent.
        index = len(gateway.connections)
        proc = await start_agent(pyz, root, gateway.url, heartbeat=0.01)
        try:
            conn = await gateway.registered(index)
            await conn.wait_heartbeats(5)
            figures["agent_after_5_heartbeats_mb"] = rss_mb(proc.pid)
            await conn.wait_heartbeats(heartbeats, timeout=heartbeats)
            figures["agent_after_n_heartbeats_mb"] = rss_mb(proc.pid)
            figures["heartbeats"] = len(conn.heartbeats)

            reconnects = []
            for _ in range(drops):
                current = gateway.connections[-1]
                await current.wait_heartbeats(len(current.heartbeats) + 2)  # a stable connection
                index = len(gateway.connections)
                dropped_at = time.monotonic()
                gateway.drop(current)
                await gateway.registered(index, timeout=120)
                reconnects.append(time.monotonic() - dropped_at)
            figures["reconnect_s"] = reconnects

            conn = gateway.connections[-1]
            round_trips = []
            for _ in range(calls):
                started = time.monotonic()
                await gateway.call(conn, "metrics_collect")
                round_trips.append(time.monotonic() - started)
            figures["metrics_rtt_s"] = round_trips
        finally:
            await stop(proc)
    return figures


def _quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


def report(figures: dict) -> str:
    floor = figures["floor_installed_mb"]
    idle = figures["agent_idle_mb"]
    ratio = idle / floor
    verdict = "ok" if ratio <= RSS_TARGET_RATIO else "OVER TARGET"
    early, late = figures["agent_after_5_heartbeats_mb"], figures["agent_after_n_heartbeats_mb"]
    reconnects = [s * 1000 for s in figures["reconnect_s"]]
    rtts = [s * 1000 for s in figures["metrics_rtt_s"]]
    rows = [
        ("floor: ssl + websockets.asyncio.client", f"{floor:.1f} MB (installed copy)"),
        ("floor, same imports from the zipapp", f"{figures['floor_vendored_mb']:.1f} MB"),
        (
            "idle RSS after connecting",
            f"{idle:.1f} MB = {ratio:.2f}x the floor (target <= {RSS_TARGET_RATIO}x) {verdict}",
        ),
        (
            f"RSS after 5 / {figures['heartbeats']} heartbeats",
            f"{early:.1f} / {late:.1f} MB (growth {late - early:+.2f} MB)",
        ),
        (
            "reconnect after a gateway drop",
            f"median {statistics.median(reconnects):.0f} ms,"
            f" p90 {_quantile(reconnects, 0.9):.0f} ms"
            f" over {len(reconnects)} drops (target < 2000 ms)",
        ),
        (
            "metrics_collect round trip",
            f"median {statistics.median(rtts):.1f} ms, p90 {_quantile(rtts, 0.9):.1f} ms"
            f" over {len(rtts)} calls",
        ),
    ]
    lines = ["agent (zipapp, python3 -I -S, sandbox mode, loopback gateway)"]
    lines += [f"  {label:<42} {value}" for label, value in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="processes per memory figure")
    parser.add_argument("--heartbeats", type=int, default=500)
    parser.add_argument("--drops", type=int, default=15)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vmkit-agent-bench-") as tmp:
        build = build_agent(Path(tmp) / "dist")
        root = Path(tmp) / "root"
        root.mkdir()
        figures = asyncio.run(
            measure(
                build.path,
                root,
                runs=args.runs,
                heartbeats=args.heartbeats,
                drops=args.drops,
                calls=args.calls,
            )
        )
    print(report(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
