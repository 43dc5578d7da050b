"""What one deploy costs VMKit: state transitions, its own handler time, and dollars.

Runs the sample app's first deploy (onboarding PR, new VM) and a redeploy (the
common case) on the embedded local stack, and counts what AWS would bill:

- state transitions, from the execution's history (`*StateEntered` events);
- every Lambda invocation the deploy caused (steps, webhooks, agent messages, the
  REST call that started it) and its handler time, timed around the in-process
  runtime: VMKit's own work, since waiting states return as soon as they park their
  task token (the waits themselves cost nothing on a Standard workflow);
- DynamoDB, KMS and Secrets Manager calls, counted on boto3's event hooks.

Prices are AWS list prices (us-east-1, arm64 Lambda at 512 MB, DynamoDB on-demand at
one request unit per call, items being under 1 KB). The local stack runs handlers on
this machine against moto, so handler time here includes moto's latency where AWS
would have DynamoDB's: the same order of magnitude.
"""

from __future__ import annotations

import collections
import tempfile
import time
from pathlib import Path
from typing import Any

PRICE = {
    "transition": 0.025 / 1000,
    "lambda_request": 0.20 / 1_000_000,
    "lambda_gb_second": 0.0000133334,
    "dynamodb_write": 0.625 / 1_000_000,
    "dynamodb_read": 0.125 / 1_000_000,
    "kms_request": 0.03 / 10_000,
    "secrets_request": 0.05 / 10_000,
    "apigw_http_request": 1.00 / 1_000_000,
    "apigw_ws_message": 1.00 / 1_000_000,
}
MEMORY_GB = 0.5
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
READS = {"GetItem", "Query", "Scan", "BatchGetItem"}


class Meter:
    """Counts invocations, handler time and AWS calls while enabled."""

    def __init__(self) -> None:
        self.on = False
        self.invocations: collections.Counter[str] = collections.Counter()
        self.handler_s: collections.Counter[str] = collections.Counter()
        self.calls: collections.Counter[str] = collections.Counter()

    def reset(self) -> None:
        self.invocations.clear()
        self.handler_s.clear()
        self.calls.clear()

    def count_aws_calls(self) -> None:
        """Hook boto3's default session, before the stack makes its clients from it."""
        import boto3

        def count(event_name: str, **_: Any) -> None:
            if self.on:
                _, service, operation = event_name.split(".", 2)
                self.calls[f"{service}.{operation}"] += 1

        boto3.setup_default_session()
        boto3.DEFAULT_SESSION.events.register("before-call.*", count)

    def time_invocations(self, runtime: Any) -> None:
        original = runtime._run

        def timed(spec: Any, invoked_arn: str, event: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(spec, invoked_arn, event, *args, **kwargs)
            finally:
                # A client polling GET /api/deploys/{id} is not part of the deploy.
                polling = (
                    isinstance(event, dict)
                    and event.get("requestContext", {}).get("http", {}).get("method") == "GET"
                )
                if self.on and not polling:
                    self.invocations[spec.name] += 1
                    self.handler_s[spec.name] += time.perf_counter() - started

        runtime._run = timed


def _transitions(stack: Any, execution_arn: str) -> int:
    history = stack.client("stepfunctions").get_execution_history(
        executionArn=execution_arn, maxResults=1000
    )
    return sum(1 for e in history["events"] if e["type"].endswith("StateEntered"))


def _report(label: str, meter: Meter, transitions: int) -> dict[str, float]:
    handler_s = sum(meter.handler_s.values())
    invocations = sum(meter.invocations.values())
    writes = sum(
        n
        for k, n in meter.calls.items()
        if k.split(".")[0] == "dynamodb" and k.split(".")[1] in WRITES
    )
    reads = sum(
        n
        for k, n in meter.calls.items()
        if k.split(".")[0] == "dynamodb" and k.split(".")[1] in READS
    )
    kms = sum(n for k, n in meter.calls.items() if k.startswith("kms."))
    secrets = sum(n for k, n in meter.calls.items() if k.startswith("secrets-manager."))
    ws = sum(n for name, n in meter.invocations.items() if name.endswith("WsDefaultFunction"))
    http = sum(
        n
        for name, n in meter.invocations.items()
        if name.endswith(("ApiFunction", "WebhookFunction"))
    )
    cost = {
        "Step Functions": transitions * PRICE["transition"],
        "Lambda": invocations * PRICE["lambda_request"]
        + handler_s * MEMORY_GB * PRICE["lambda_gb_second"],
        "DynamoDB": writes * PRICE["dynamodb_write"] + reads * PRICE["dynamodb_read"],
        "KMS + Secrets Manager": kms * PRICE["kms_request"] + secrets * PRICE["secrets_request"],
        "API Gateway": http * PRICE["apigw_http_request"] + ws * PRICE["apigw_ws_message"],
    }
    total = sum(cost.values())
    print(f"  {label}")
    print(f"    state transitions          {transitions:6d}   (target <= 30)")
    print(
        f"    Lambda invocations         {invocations:6d}   handler time {handler_s * 1000:7.0f} ms"
    )
    slowest = sorted(meter.handler_s.items(), key=lambda kv: -kv[1])[:4]
    print(
        "      slowest: "
        + ", ".join(f"{n.split('-', 2)[-1]} {s * 1000:.0f} ms" for n, s in slowest)
    )
    print(
        f"    DynamoDB writes / reads    {writes:6d} / {reads}   KMS {kms}   Secrets Manager {secrets}"
    )
    print("    cost at list prices       " + ", ".join(f"{k} ${v:.6f}" for k, v in cost.items()))
    print(f"    total per deploy           ${total:.6f}   (target < $0.001)")
    return {"transitions": transitions, "handler_ms": handler_s * 1000, "cost": total}


def main() -> dict[str, dict[str, float]]:
    from bench.imports import ROOT
    from vmkit_local.demo import _merge_onboarding_pr
    from vmkit_local.embedded import EmbeddedConfig, build

    meter = Meter()
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="vmkit-bench-") as data_dir:
        config = EmbeddedConfig(
            data_dir=Path(data_dir), state_file=None, parameter_overrides={"LogLevel": "WARNING"}
        )
        meter.count_aws_calls()
        stack, cloud = build(config)
        with stack:
            import httpx

            meter.time_invocations(stack.runtime)
            api = httpx.Client(
                base_url=stack.app_urls["rest"],
                timeout=30,
                headers={"Authorization": f"Bearer {stack.local_json['api_key']}"},
            )
            repo = cloud.github.create_repo(
                "bench", "hello", source_dir=ROOT / "examples" / "hello"
            )
            # The App installed on `bench` after start: its operator gives it to the workspace.
            cloud.connect_account("bench", api.get("/api/auth/me").json()["workspace_id"])
            target = api.post(
                "/api/compute-targets", json={"name": "local", "provider": "local"}
            ).json()
            connected = api.post(
                "/api/repos",
                json={
                    "full_name": repo.full_name,
                    "installation_id": cloud.github.installation_id("bench"),
                },
            ).json()
            env = api.post(
                "/api/environments",
                json={
                    "repo_id": connected["id"],
                    "name": "production",
                    "compute_target_id": target["id"],
                },
            ).json()
            print("deploy overhead (VMKit's own work per deploy, on the local stack)")
            for label in (
                "first deploy (onboarding PR, new VM, every function cold)",
                "redeploy (warm functions; target <= 2000 ms of handler time)",
            ):
                meter.reset()
                meter.on = True
                deploy = api.post(f"/api/environments/{env['id']}/deploys", json={}).json()
                merged = False
                while True:
                    current = api.get(f"/api/deploys/{deploy['id']}").json()
                    steps = current["steps"]
                    if not merged and steps and "/pull/" in (steps[-1].get("detail") or ""):
                        _merge_onboarding_pr(cloud, repo.full_name)  # as the repo owner would
                        merged = True
                    if current["status"] in ("succeeded", "failed", "cancelled"):
                        break
                    time.sleep(0.2)
                meter.on = False
                if current["status"] != "succeeded":
                    raise SystemExit(f"bench deploy {current['status']}: {current.get('failure')}")
                execution = f"{stack.spec.physical('DeployStateMachine').ref.replace(':stateMachine:', ':execution:')}:{deploy['id']}"
                figures[label] = _report(label, meter, _transitions(stack, execution))
    return figures
