"""Helpers shared by API tests: the error shape, and a small world of resources."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient


def assert_error(resp: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is the standard error shape with this status (and code)."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if code:
        assert error["code"] == code, error
    return error


@dataclass
class World:
    target_id: str
    repo_id: str
    environment_id: str


def make_world(tenant: Any, repo: str | None = None, token: str = "hz-token-0000") -> World:
    """A target, a repo of the tenant's GitHub account, and its `production` environment."""
    client: TestClient = tenant.client
    repo = repo or f"{tenant.account}/invoicer"
    target = client.post(
        "/api/compute-targets", json={"name": "hetzner main", "provider": "hetzner", "token": token}
    )
    assert target.status_code == 201, target.text
    created_repo = client.post("/api/repos", json={"full_name": repo})
    assert created_repo.status_code == 201, created_repo.text
    env = client.post(
        "/api/environments",
        json={
            "repo_id": created_repo.json()["id"],
            "name": "production",
            "compute_target_id": target.json()["id"],
            "env_vars": [{"name": "MODE", "value": "prod"}],
        },
    )
    assert env.status_code == 201, env.text
    return World(target.json()["id"], created_repo.json()["id"], env.json()["id"])


def seed_runtime(deps: Any, workspace_id: str, world: World) -> tuple[str, str]:
    """An instance and a deploy for the environment (the deploy machine makes these for real)."""
    from vmkit.ids import new_id
    from vmkit.models import Deploy, Instance, Provider

    instance = Instance(
        id=new_id("instance"),
        workspace_id=workspace_id,
        environment_id=world.environment_id,
        compute_target_id=world.target_id,
        provider=Provider.hetzner,
        server_type="cax11",
        region="fsn1",
    )
    deploy = Deploy(
        id=new_id("deploy"),
        workspace_id=workspace_id,
        environment_id=world.environment_id,
        repo_id=world.repo_id,
        ref="main",
        requested_by="test",
        interface="rest",
    )
    deps.store.create(instance)
    deps.store.create(deploy)
    return instance.id, deploy.id
