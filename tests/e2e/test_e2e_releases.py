"""Releases and rollback on the local stack: deploy v1, v2, roll back to v1 over REST."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from tests.e2e.conftest import Local, ok
from vmkit_local.demo import push_commit

pytestmark = pytest.mark.e2e


def _run_log(local: Local, deploy: dict[str, Any]) -> str:
    run_id = int(deploy["run_url"].rstrip("/").rsplit("/", 1)[1])
    return local.cloud.github.run_log(run_id) or ""


@pytest.fixture(scope="module")
def shipped(local: Local, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An app deployed at 1.0.0, then at 2.0.0."""
    app = local.new_app(tmp_path_factory.mktemp("apps"), "ledger")
    app["v1"] = local.deploy_until_done(app)
    assert app["v1"]["status"] == "succeeded", app["v1"]
    push_commit(local.cloud, app["repo"].full_name, "VERSION", "2.0.0\n", "Release 2.0.0")
    app["v2"] = local.wait(local.deploy(app["env"]["id"])["id"])
    assert app["v2"]["status"] == "succeeded", app["v2"]
    assert "version 2.0.0" in local.get_app(app["v2"]["url"]).text
    return app


def test_rolling_back_serves_v1_again_without_a_build_and_records_a_third_release(
    local: Local, shipped
):
    env_id = shipped["env"]["id"]
    started = ok(local.api.post(f"/api/environments/{env_id}/rollback", json={}))
    assert started["action"] == "rollback" and started["rollback_to"] == 1
    rollback = local.wait(started["id"])

    assert rollback["status"] == "succeeded", (
        rollback["failure"],
        _run_log(local, rollback)[-3000:],
    )
    assert "version 1.0.0" in local.get_app(rollback["url"]).text
    log = _run_log(local, rollback)
    assert "is in the registry: not building it again" in log
    assert "pack build" not in log and "===> BUILDING" not in log
    assert "pack build" in _run_log(local, shipped["v2"])  # a deploy does build
    releases = ok(local.api.get(f"/api/environments/{env_id}/releases"))["items"]
    assert [(r["number"], r["action"], r["current"]) for r in releases] == [
        (3, "rollback", True),
        (2, "deploy", False),
        (1, "deploy", False),
    ]
    assert releases[2]["commit_sha"] == shipped["v1"]["commit_sha"]
    assert releases[0]["image_tag"] == releases[2]["image_tag"] == shipped["v1"]["commit_sha"]
    assert releases[0]["deploy_id"] == rollback["id"] and releases[0]["rollback_of"] == 1
    audit = ok(local.api.get("/api/audit"))["items"]
    assert any(e["action"] == "rollback.start" and e["target_id"] == rollback["id"] for e in audit)


def test_rolling_back_to_a_release_whose_image_is_gone_fails_with_the_reason(local: Local, shipped):
    env_id = shipped["env"]["id"]
    tag = shipped["v2"]["commit_sha"]
    (image,) = local.cloud.registry.glob(f"**/{tag}")
    shutil.rmtree(image)  # deleted from GHCR (a retention policy, or by hand)

    started = ok(local.api.post(f"/api/environments/{env_id}/rollback", json={"release": 2}))
    failed = local.wait(started["id"])

    assert failed["status"] == "failed"
    assert failed["failure"]["step"] == "DispatchWorkflow"
    reason = failed["failure"]["reason"]
    assert f":{tag} is no longer in the registry" in reason and "deploy its commit again" in reason
    assert "version 1.0.0" in local.get_app(shipped["v1"]["url"]).text  # still release 3
    releases = ok(local.api.get(f"/api/environments/{env_id}/releases"))["items"]
    assert len(releases) == 3


def test_a_bad_rollback_request_is_refused_before_anything_starts(local: Local, shipped):
    env_id = shipped["env"]["id"]
    unknown = local.api.post(f"/api/environments/{env_id}/rollback", json={"release": 99})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "release_not_found"
    latest = ok(local.api.get(f"/api/environments/{env_id}/releases"))["items"][0]["number"]
    current = local.api.post(f"/api/environments/{env_id}/rollback", json={"release": latest})
    assert current.status_code == 422
    assert current.json()["error"]["code"] == "release_is_current"
    typo = local.api.post(f"/api/environments/{env_id}/rollback", json={"relase": 1})
    assert typo.status_code == 422
    assert ok(local.api.get(f"/api/environments/{env_id}"))["active_deploy_id"] is None
