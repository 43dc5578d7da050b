"""Faults on the way to a live URL: each ends in a clear failed deploy with its reason,
leaves nothing half made, and a deploy after the fault is gone succeeds."""

from __future__ import annotations

import os

import pytest

from tests.e2e.conftest import Local, ok

pytestmark = pytest.mark.e2e


def test_hetzner_rate_limit_is_retried_and_the_deploy_succeeds(local: Local, tmp_path):
    app = local.new_app(tmp_path)
    local.cloud.hetzner.faults.inject("/servers", 429, times=1, method="POST")
    deploy = local.deploy_until_done(app)
    assert deploy["status"] == "succeeded", deploy
    assert local.cloud.hetzner.faults.pending() == []  # the 429 was served, then retried


def test_cloudflare_failing_past_the_retry_budget_fails_clearly_then_a_retry_succeeds(
    local: Local, tmp_path
):
    app = local.new_app(tmp_path)
    local.cloud.cloudflare.faults.inject("/zones/*/dns_records", 500, times=1000)
    try:
        failed = local.deploy_until_done(app)
    finally:
        local.cloud.cloudflare.faults.clear()
    assert failed["status"] == "failed"
    assert failed["failure"]["step"] == "EnsureDNS"
    assert "Cloudflare" in failed["failure"]["reason"] and "500" in failed["failure"]["reason"]
    env = ok(local.api.get(f"/api/environments/{app['env']['id']}"))
    assert env["active_deploy_id"] is None  # the environment is free again
    retried = local.wait(local.deploy(app["env"]["id"])["id"])
    assert retried["status"] == "succeeded"
    reused = {s["name"]: s.get("detail") or "" for s in retried["steps"]}
    assert reused["EnsureInstance"].startswith("reusing")  # the VM made before the fault is kept


def test_an_agent_that_never_connects_times_out_then_a_retry_replaces_the_vm(
    local: Local, tmp_path
):
    s3 = local.stack.client("s3")
    bucket, key = os.environ["AGENT_BUCKET"], "vmkit-agent.pyz"
    good = s3.get_object(Bucket=bucket, Key=key)
    body, metadata = good["Body"].read(), good["Metadata"]
    app = local.new_app(tmp_path)
    # The published checksum no longer matches the file: cloud-init refuses to start it.
    s3.put_object(Bucket=bucket, Key=key, Body=body + b"tampered", Metadata=metadata)
    try:
        failed = local.deploy_until_done(app)
    finally:
        s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata=metadata)
    assert failed["status"] == "failed"
    assert (
        failed["failure"]["step"] == "WaitForAgent"
        and "never connected" in failed["failure"]["reason"]
    )
    stuck = ok(local.api.get(f"/api/environments/{app['env']['id']}"))["instance_id"]
    retried = local.wait(local.deploy(app["env"]["id"])["id"])
    assert retried["status"] == "succeeded", retried
    env = ok(local.api.get(f"/api/environments/{app['env']['id']}"))
    assert env["instance_id"] != stuck
    assert ok(local.api.get(f"/api/instances/{stuck}"))["status"] == "destroyed"
