"""A key's privilege never grows: it creates, rotates, revokes and sees only keys within
its own scope and environment restriction; an environment-restricted key is held to
its environments on every route that takes one (or acts on one through a repo)."""

from __future__ import annotations

import pytest

from tests.support.api import assert_error, make_world


@pytest.fixture
def world(tenant):
    return make_world(tenant)


def create_key(client, headers=None, **body):
    body = {"name": "k", "scopes": ["read"], **body}
    return client.post("/api/keys", json=body, headers=headers or {})


@pytest.fixture
def staging_admin(tenant, world):
    """An admin key restricted to a second environment, `staging`."""
    staging = tenant.client.post(
        "/api/environments",
        json={"repo_id": world.repo_id, "name": "staging", "compute_target_id": world.target_id},
    ).json()
    made = create_key(tenant.client, scopes=["admin"], environment_ids=[staging["id"]])
    assert made.status_code == 201, made.text
    return {
        "headers": tenant.headers(made.json()["key"]),
        "staging": staging["id"],
        "id": made.json()["id"],
    }


def test_a_restricted_admin_cannot_create_an_unrestricted_key(tenant, staging_admin):
    for scopes in (["read"], ["admin"]):
        refused = create_key(tenant.client, staging_admin["headers"], scopes=scopes)
        error = assert_error(refused, 403, "insufficient_scope")
        assert staging_admin["staging"] in error["message"]


def test_a_restricted_admin_cannot_create_a_key_for_another_environment(
    tenant, world, staging_admin
):
    refused = create_key(
        tenant.client, staging_admin["headers"], environment_ids=[world.environment_id]
    )
    assert_error(refused, 403, "insufficient_scope")
    mixed = create_key(
        tenant.client,
        staging_admin["headers"],
        environment_ids=[world.environment_id, staging_admin["staging"]],
    )
    assert_error(mixed, 403, "insufficient_scope")


def test_a_restricted_admin_creates_keys_within_its_environments(tenant, staging_admin):
    made = create_key(
        tenant.client,
        staging_admin["headers"],
        scopes=["deploy"],
        environment_ids=[staging_admin["staging"]],
    )
    assert made.status_code == 201 and made.json()["environment_ids"] == [staging_admin["staging"]]


def test_a_deploy_key_cannot_create_an_admin_key(tenant):
    deployer = create_key(tenant.client, scopes=["deploy"]).json()["key"]
    assert_error(create_key(tenant.client, tenant.headers(deployer), scopes=["admin"]), 403)


def test_a_restricted_admin_cannot_rotate_or_revoke_an_unrestricted_key(tenant, staging_admin):
    victim = create_key(tenant.client, scopes=["admin"]).json()
    rotate = tenant.client.post(
        f"/api/keys/{victim['id']}/rotate", headers=staging_admin["headers"]
    )
    assert_error(rotate, 403, "key_privilege")
    revoke = tenant.client.delete(f"/api/keys/{victim['id']}", headers=staging_admin["headers"])
    assert_error(revoke, 403, "key_privilege")
    # the victim still works: nothing changed
    assert tenant.client.get("/api/keys", headers=tenant.headers(victim["key"])).status_code == 200
    bootstrap = tenant.client.get("/api/auth/me").json()["key_id"]
    assert_error(
        tenant.client.delete(f"/api/keys/{bootstrap}", headers=staging_admin["headers"]),
        403,
        "key_privilege",
    )


def test_a_restricted_admin_rotates_and_revokes_keys_within_its_environments(tenant, staging_admin):
    inner = create_key(
        tenant.client, staging_admin["headers"], environment_ids=[staging_admin["staging"]]
    ).json()
    rotated = tenant.client.post(
        f"/api/keys/{inner['id']}/rotate", headers=staging_admin["headers"]
    )
    assert rotated.status_code == 201
    assert rotated.json()["environment_ids"] == [staging_admin["staging"]]
    revoked = tenant.client.delete(
        f"/api/keys/{rotated.json()['id']}", headers=staging_admin["headers"]
    )
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]


def test_a_restricted_admin_lists_only_the_keys_it_could_manage(tenant, staging_admin):
    inner = create_key(
        tenant.client, staging_admin["headers"], environment_ids=[staging_admin["staging"]]
    ).json()
    create_key(tenant.client, scopes=["admin"])  # unrestricted: not listed to it
    listed = tenant.client.get("/api/keys", headers=staging_admin["headers"]).json()["items"]
    assert {k["id"] for k in listed} == {inner["id"], staging_admin["id"]}
    everything = tenant.client.get("/api/keys").json()["items"]
    assert len(everything) == 4  # the unrestricted admin sees all


def test_a_restricted_key_cannot_create_environments(tenant, world, staging_admin):
    refused = tenant.client.post(
        "/api/environments",
        json={"repo_id": world.repo_id, "name": "preview", "compute_target_id": world.target_id},
        headers=staging_admin["headers"],
    )
    assert_error(refused, 403, "environment_not_allowed")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/environments/{env}", None),
        ("patch", "/api/environments/{env}", {"server_type": "cax21"}),
        ("patch", "/api/environments/{env}/env-vars", {"set": [{"name": "A", "value": "b"}]}),
        ("post", "/api/environments/{env}/deploys", {}),
        ("post", "/api/environments/{env}/reset", None),
        ("get", "/api/environments/{env}/plan", None),
        ("delete", "/api/environments/{env}", None),
        ("get", "/api/deploys?environment_id={env}", None),
        ("post", "/api/repos/{repo}/onboard", {"environment_id": "{env}"}),
    ],
)
def test_every_environment_taking_route_refuses_a_key_for_other_environments(
    tenant, world, staging_admin, method, path, body
):
    fill = {"env": world.environment_id, "repo": world.repo_id}
    url = path.format(**fill)
    if body:
        body = {k: (v.format(**fill) if isinstance(v, str) else v) for k, v in body.items()}
    kwargs = {"headers": staging_admin["headers"]}
    if body is not None:
        kwargs["json"] = body
    response = getattr(tenant.client, method)(url, **kwargs)
    assert_error(response, 403, "environment_not_allowed")


def test_onboarding_without_an_environment_uses_only_the_keys_environments(
    tenant, world, staging_admin, monkeypatch
):
    """The repo's first environment (production) is not the key's: staging is chosen."""
    from vmkit.services import onboarding

    chosen = {}

    def propose(deps, repo, env, *, overwrite):
        chosen["env"] = env.id
        raise RuntimeError("stop here")

    monkeypatch.setattr(onboarding, "_propose", propose)
    tenant.client.post(f"/api/repos/{world.repo_id}/onboard", headers=staging_admin["headers"])
    assert chosen["env"] == staging_admin["staging"]


def test_of_two_racing_starts_the_loser_is_told_the_winners_id(tenant, world, deps):
    from vmkit.errors import Conflict
    from vmkit.models import Environment
    from vmkit.services import deploys

    stale = deps.store.get(Environment, tenant.workspace_id, world.environment_id)
    started = tenant.client.post(f"/api/environments/{world.environment_id}/deploys", json={})
    assert started.status_code == 202
    with pytest.raises(Conflict) as lost:
        deploys._hold(deps, stale, "dep_loser")
    assert lost.value.code == "deploy_in_progress"
    assert lost.value.details == {"active_deploy_id": started.json()["id"]}
