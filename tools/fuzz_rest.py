"""`make fuzz`: schemathesis, every check, against the REST API of a running local stack.

Starts the embedded stack on a fresh data directory (its own ports, no `.vmkit/`), gives
its workspace something to find (a compute target, the App installed on a GitHub
account and claimed, a connected repo with an environment), then runs the schemathesis
CLI over `/openapi.json` with the stack's admin key. Every phase runs (examples,
coverage, fuzzing and the stateful phase that chains responses through the schema's
links); exits with schemathesis' status, so any failure fails `make fuzz`.

The key operations that end a key (revoke, rotate) run last, in a pass of their own:
the stateful phase finds the fuzzer's own key in `GET /api/keys` and would otherwise
revoke it, leaving every later request a 401 that tests nothing.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=40)
    parser.add_argument("--seed", type=int, default=20261203)
    args = parser.parse_args(argv)

    from vmkit_local.embedded import EmbeddedConfig, build

    with tempfile.TemporaryDirectory(prefix="vmkit-fuzz-") as data:
        config = EmbeddedConfig(
            data_dir=Path(data), state_file=None, parameter_overrides={"LogLevel": "ERROR"}
        )
        stack, cloud = build(config)
        with stack:
            key = stack.local_json["api_key"]
            rest = stack.app_urls["rest"]
            _seed(rest, key, cloud, Path(data))
            base = [
                str(Path(sys.executable).parent / "schemathesis"),
                "run",
                f"{rest}/openapi.json",
                "--checks",
                "all",
                "--header",
                f"Authorization: Bearer {key}",
                "--max-examples",
                str(args.max_examples),
                "--seed",
                str(args.seed),
                "--workers",
                "1",
                "--request-timeout",
                "60",
                "--report",
                "junit",
                "--report-dir",
                str(ROOT / "build" / "fuzz"),
            ]
            ending = ["rotate_api_key", "revoke_api_key"]
            passes = [
                [flag for op in ending for flag in ("--exclude-operation-id", op)],
                [flag for op in ending for flag in ("--include-operation-id", op)],
            ]
            status = 0
            for selection in passes:
                command = base + selection
                print("$", " ".join(command).replace(key, "vmk_…"), flush=True)
                status = max(status, subprocess.run(command, check=False).returncode)
            return status


def _seed(rest: str, key: str, cloud, data: Path) -> None:
    """Something in the workspace for the stateful phase and the id-taking routes."""
    api = httpx.Client(base_url=rest, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    workspace_id = api.get("/api/auth/me").raise_for_status().json()["workspace_id"]
    installation_id = cloud.connect_account("fuzz", workspace_id)
    source = data / "app"
    shutil.copytree(ROOT / "examples" / "hello", source)
    repo = cloud.github.create_repo("fuzz", "app", source_dir=source)
    target = api.post("/api/compute-targets", json={"name": "here", "provider": "local"})
    connected = api.post(
        "/api/repos", json={"full_name": repo.full_name, "installation_id": installation_id}
    )
    api.post(
        "/api/environments",
        json={
            "repo_id": connected.raise_for_status().json()["id"],
            "name": "production",
            "compute_target_id": target.raise_for_status().json()["id"],
        },
    ).raise_for_status()


if __name__ == "__main__":
    sys.exit(main())
