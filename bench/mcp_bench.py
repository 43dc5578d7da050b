"""MCP function figures: the first invocation after a cold import, and p50/p99 of a warm
`list_environments` tool call through the real handler (functions/mcp/app.py).

Each call is one Lambda function URL event through `handler(event, context)`, as AWS
invokes it: bearer-key check, the tool, the JSON-RPC answer. AWS is moto, in process,
and moto's DynamoDB is most of each call's time; so the same two service calls (key
check, list) are also timed alone, and the difference is what MCP and the handler
add. On AWS, replace moto's share with two DynamoDB round trips. The cold import
itself is in the import figures above. Run with `python -m bench.mcp_bench` (or `make bench`).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import time

import boto3
from moto import mock_aws

import vmkit.deps
from tests.support.fakes import FakeCompute, FakeGitHubApp
from tests.support.template import ROOT, create_table
from tests.unit.mcp.mcp_support import function_url_event, jsonrpc
from vmkit.auth import authenticate_api_key
from vmkit.deps import Deps, get_deps
from vmkit.models import Interface, Provider
from vmkit.schemas import ComputeTargetCreate, EnvironmentCreate, RepoCreate
from vmkit.services import compute_targets, environments, installations, repos, workspaces
from vmkit.settings import get_settings

ENVIRONMENTS = 5
_ENV = {
    "AWS_DEFAULT_REGION": "eu-central-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "TABLE_NAME": "vmkit-bench",
    "APPS_DOMAIN": "apps.example.test",
    "POWERTOOLS_SERVICE_NAME": "vmkit",
    # The handler requires them at import (it starts deploys); none is started here.
    "DEPLOY_STATE_MACHINE_ARN": "arn:aws:states:eu-central-1:123456789012:stateMachine:bench-deploy",
    "TEARDOWN_STATE_MACHINE_ARN": "arn:aws:states:eu-central-1:123456789012:stateMachine:bench-teardown",
}
INSTALLATION = 4200


def _seed() -> str:
    """A workspace with a few environments; returns its admin key. The clouds and the
    GitHub App are the tests' fakes: only DynamoDB and KMS (moto) are on the path timed."""
    create_table(boto3.client("dynamodb"), _ENV["TABLE_NAME"])
    os.environ["KMS_KEY_ID"] = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    get_settings.cache_clear()
    github = FakeGitHubApp()
    github.add_installation(INSTALLATION, "acme")
    vmkit.deps.use_deps(Deps(get_settings(), compute=lambda target: FakeCompute(), github=github))
    deps = get_deps()
    _, key = workspaces.bootstrap_workspace(deps, "bench")
    admin = authenticate_api_key(deps.store, key, Interface.cli)
    installations.claim_as_operator(deps, admin.workspace_id, INSTALLATION)
    target = compute_targets.create_target(
        deps,
        admin,
        ComputeTargetCreate(name="hz", provider=Provider.hetzner, token="hz-bench-token"),  # noqa: S106 (fake)
    )
    repo = repos.connect_repo(
        deps, admin, RepoCreate(full_name="acme/invoicer", installation_id=INSTALLATION)
    )
    for i in range(ENVIRONMENTS):
        environments.create_environment(
            deps,
            admin,
            EnvironmentCreate(repo_id=repo.id, name=f"env-{i}", compute_target_id=target.id),
        )
    return key


def _load_handler():
    spec = importlib.util.spec_from_file_location("mcp_function_app", ROOT / "functions/mcp/app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


def measure(calls: int) -> dict:
    os.environ.update(_ENV)
    with mock_aws():
        key = _seed()
        event = function_url_event(
            jsonrpc("tools/call", {"name": "list_environments", "arguments": {}}),
            headers={"authorization": f"Bearer {key}", "mcp-protocol-version": "2025-06-18"},
        )

        def services_alone() -> float:
            started = time.perf_counter()
            principal = authenticate_api_key(get_deps().store, key, Interface.mcp)
            environments.list_environments(get_deps(), principal)
            return time.perf_counter() - started

        def invoke() -> float:
            started = time.perf_counter()
            response = handler(event, None)
            elapsed = time.perf_counter() - started
            body = json.loads(response["body"])
            assert response["statusCode"] == 200 and not body["result"]["isError"], response
            assert len(body["result"]["structuredContent"]["items"]) == ENVIRONMENTS
            return elapsed

        try:
            handler = _load_handler()
            first = invoke()
            warm = [invoke() for _ in range(calls)]
            handler.close()
            alone = [services_alone() for _ in range(calls)]
        finally:  # the deploy benchmark after this one builds its own, on the local stack
            vmkit.deps.use_deps(None)
            get_settings.cache_clear()
    return {"first_s": first, "warm_s": warm, "services_s": alone}


def _quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


def report(figures: dict) -> str:
    warm = [s * 1000 for s in figures["warm_s"]]
    alone = [s * 1000 for s in figures["services_s"]]
    added = statistics.median(warm) - statistics.median(alone)
    rows = [
        ("first invocation after INIT", f"{figures['first_s'] * 1000:.1f} ms"),
        (
            "warm list_environments",
            f"p50 {statistics.median(warm):.1f} ms, p99 {_quantile(warm, 0.99):.1f} ms"
            f" over {len(warm)} invocations",
        ),
        (
            "the same service calls alone (moto)",
            f"p50 {statistics.median(alone):.1f} ms: MCP + handler add {added:.1f} ms",
        ),
    ]
    lines = ["MCP function (real handler, function URL events, moto in process)"]
    lines += [f"  {label:<42} {value}" for label, value in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args(argv)
    print(report(measure(args.calls)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
