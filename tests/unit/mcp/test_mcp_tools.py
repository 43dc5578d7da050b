"""Each tool's happy path and its bad inputs, through the SDK client over HTTP.

Bad input always comes back as a tool error (`is_error`) with a code and a message,
never as a protocol failure. Tools that need GitHub or a connected agent are checked
for the error they give without one; the local stack covers them end to end.
"""

from __future__ import annotations

import boto3
import pytest

from tests.support.api import make_world, seed_runtime
from tests.unit.mcp.mcp_support import call, error, ok
from vmkit.ids import new_id
from vmkit.models import Environment, Instance

AGENT_TOOLS = ["get_logs", "get_metrics", "diagnose", "harden_vm", "upgrade_agent"]


def _agent_args(tool: str, environment_id: str) -> dict:
    args = {"environment_id": environment_id}
    if tool == "get_logs":
        args["container"] = "web"
    return args


def _attach_vm(deps, tenant, world, **fields) -> str:
    """Give the environment a VM record, as its first deploy would."""
    instance_id, _ = seed_runtime(deps, tenant.workspace_id, world)
    if fields:
        deps.store.set_fields(deps.store.get(Instance, tenant.workspace_id, instance_id), **fields)
    env = deps.store.get(Environment, tenant.workspace_id, world.environment_id)
    deps.store.set_fields(env, instance_id=instance_id)
    return instance_id


# --- setting up --------------------------------------------------------------------------


def test_list_compute_targets_never_shows_a_token(mcp_url, tenant, world):
    result = call(mcp_url, tenant.key, "list_compute_targets")
    [target] = ok(result)["items"]
    assert target["id"] == world.target_id and target["provider"] == "hetzner"
    assert target["token_hint"] == "…0000" and target["deploy_public_key"].startswith("ssh-ed25519")
    assert "hz-token-0000" not in result.content[0].text


def test_list_repos_gives_the_ids_other_tools_take(mcp_url, tenant, world):
    [repo] = ok(call(mcp_url, tenant.key, "list_repos", {"limit": 10}))["items"]
    assert repo["id"] == world.repo_id and repo["full_name"] == "acme/invoicer"
    assert repo["onboarding"] == "not_started"
    error(call(mcp_url, tenant.key, "list_repos", {"limit": 0}), "invalid_input")


def test_scan_repo_without_the_github_app_says_it_is_not_configured(mcp_url, tenant, world):
    err = error(
        call(mcp_url, tenant.key, "scan_repo", {"repo_id": world.repo_id}), "not_configured"
    )
    assert "GitHub App" in err["message"] and "operator" in err["hint"]


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("scan_repo", {"repo_id": "acme/invoicer"}),
        ("scan_repo", {}),
        ("onboard_repo", {"repo_id": new_id("environment")}),
        ("onboard_repo", {"repo_id": new_id("repo"), "environment_id": new_id("repo")}),
        ("onboard_repo", {"repo_id": new_id("repo"), "overwrite": "sometimes"}),
    ],
)
def test_repo_tools_refuse_bad_ids(mcp_url, tenant, tool, args):
    err = error(call(mcp_url, tenant.key, tool, args), "invalid_input")
    assert err["details"] and all(d["field"] for d in err["details"])


def test_repo_tools_report_unknown_repos(mcp_url, tenant):
    for tool in ("scan_repo", "onboard_repo"):
        err = error(call(mcp_url, tenant.key, tool, {"repo_id": new_id("repo")}), "not_found")
        assert "list_repos" in err["hint"]


def test_onboard_repo_needs_an_environment_first_then_the_github_app(mcp_url, tenant, world):
    bare = tenant.client.post("/api/repos", json={"full_name": "acme/bare"}).json()
    err = error(call(mcp_url, tenant.key, "onboard_repo", {"repo_id": bare["id"]}), "not_found")
    assert "create one first" in err["message"]
    error(call(mcp_url, tenant.key, "onboard_repo", {"repo_id": world.repo_id}), "not_configured")


def test_create_environment_returns_its_url_and_masks_secrets(mcp_url, tenant, world):
    result = call(
        mcp_url,
        tenant.key,
        "create_environment",
        {
            "repo_id": world.repo_id,
            "name": "staging",
            "compute_target_id": world.target_id,
            "server_type": "cax21",
            "env_vars": [
                {"name": "DATABASE_URL", "value": "postgres://u:hunter2@db/app", "secret": True},
                {"name": "LOG_LEVEL", "value": "debug"},
            ],
        },
    )
    env = ok(result)
    assert env["id"].startswith("env_") and env["name"] == "staging"
    assert env["url"] == "https://invoicer-staging.apps.example.test"
    assert env["server_type"] == "cax21" and env["region"] == "fsn1"
    assert env["env_vars"] == [
        {"name": "DATABASE_URL", "secret": True, "value": "********"},
        {"name": "LOG_LEVEL", "secret": False, "value": "debug"},
    ]
    assert "hunter2" not in result.content[0].text
    listed = ok(call(mcp_url, tenant.key, "list_environments", {"repo_id": world.repo_id}))
    assert {e["name"] for e in listed["items"]} == {"production", "staging"}


@pytest.mark.parametrize(
    ("changes", "code", "mentions"),
    [
        ({"name": "Prod Env"}, "invalid_input", "name"),
        ({"name": "production"}, "already_exists", "production"),
        ({"server_type": "cx99"}, "invalid_input", "server_type"),
        ({"region": "mars1"}, "invalid_input", "region"),
        ({"server_type": "s-2vcpu-4gb"}, "invalid_server_type", "cax11"),
        ({"region": "nyc3"}, "invalid_region", "fsn1"),
        ({"compute_target_id": "hetzner"}, "invalid_input", "compute_target_id"),
        ({"env_vars": [{"name": "A", "value": "1", "scret": True}]}, "invalid_input", "scret"),
    ],
)
def test_create_environment_bad_input(mcp_url, tenant, world, changes, code, mentions):
    args = {"repo_id": world.repo_id, "name": "staging", "compute_target_id": world.target_id}
    err = error(call(mcp_url, tenant.key, "create_environment", {**args, **changes}), code)
    assert mentions in err["message"]


def test_set_env_vars_sets_unsets_and_masks(mcp_url, tenant, world):
    result = call(
        mcp_url,
        tenant.key,
        "set_env_vars",
        {
            "environment_id": world.environment_id,
            "variables": [{"name": "API_TOKEN", "value": "tok-s3cret-value", "secret": True}],
            "unset": ["MODE"],
        },
    )
    assert ok(result)["env_vars"] == [{"name": "API_TOKEN", "secret": True, "value": "********"}]
    assert "tok-s3cret-value" not in result.content[0].text


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        ({"variables": [{"name": "lower_case", "value": "tok-s3cret-value"}]}, "invalid_input"),
        ({"variables": [{"name": "BIG", "value": "tok-s3cret-value" * 3000}]}, "invalid_input"),
        (
            {"variables": [{"name": "A", "value": "tok-s3cret-value"}], "unset": ["A"]},
            "duplicate_env_var",
        ),
        ({"unset": ["not ok"]}, "invalid_input"),
    ],
)
def test_set_env_vars_bad_input_never_echoes_a_value(mcp_url, tenant, world, arguments, code):
    result = call(
        mcp_url, tenant.key, "set_env_vars", {"environment_id": world.environment_id, **arguments}
    )
    error(result, code)
    assert "s3cret" not in result.content[0].text and "s3cret" not in str(result.structured_content)


def test_list_environments_of_an_unknown_repo(mcp_url, tenant, world):
    error(call(mcp_url, tenant.key, "list_environments", {"repo_id": new_id("repo")}), "not_found")
    error(call(mcp_url, tenant.key, "list_environments", {"limit": 101}), "invalid_input")


# --- deploying ---------------------------------------------------------------------------


def test_deploy_dry_run_returns_the_plan_and_changes_nothing(mcp_url, tenant, world):
    result = ok(
        call(
            mcp_url, tenant.key, "deploy", {"environment_id": world.environment_id, "dry_run": True}
        )
    )
    assert result["dry_run"] is True and result["deploy"] is None
    plan = result["plan"]
    assert plan["monthly_cost_usd"] == 4.5 and plan["blocked_by"] is None
    assert {c["resource"]: c["action"] for c in plan["changes"]}["VM"] == "create"
    assert plan["url"] == "https://invoicer-production.apps.example.test"
    assert tenant.client.get("/api/deploys").json()["items"] == []


def test_deploy_starts_one_at_a_time_and_get_deploy_follows_it(mcp_url, tenant, world):
    started = ok(
        call(mcp_url, tenant.key, "deploy", {"environment_id": world.environment_id, "ref": "v1"})
    )
    assert started["dry_run"] is False and started["plan"] is None
    deploy = started["deploy"]
    assert deploy["status"] == "queued" and deploy["ref"] == "v1" and deploy["interface"] == "mcp"
    followed = ok(call(mcp_url, tenant.key, "get_deploy", {"deploy_id": deploy["id"]}))
    assert followed["id"] == deploy["id"] and followed["action"] == "deploy"
    busy = error(
        call(mcp_url, tenant.key, "deploy", {"environment_id": world.environment_id}),
        "deploy_in_progress",
    )
    assert busy["details"]["active_deploy_id"] == deploy["id"]
    assert f"get_deploy with deploy_id '{deploy['id']}'" in busy["hint"]


@pytest.mark.parametrize(
    ("tool", "args", "code"),
    [
        ("deploy", {"environment_id": "production"}, "invalid_input"),
        ("deploy", {"environment_id": new_id("environment")}, "not_found"),
        ("deploy", {"environment_id": "{env}", "ref": ""}, "invalid_input"),
        ("deploy", {"environment_id": "{env}", "dry_run": "maybe"}, "invalid_input"),
        ("get_deploy", {"deploy_id": "dep_1"}, "invalid_input"),
        ("get_deploy", {"deploy_id": new_id("environment")}, "invalid_input"),
        ("get_deploy", {"deploy_id": new_id("deploy")}, "not_found"),
        ("destroy_environment", {"environment_id": "{env}"}, "invalid_input"),
        (
            "destroy_environment",
            {"environment_id": new_id("environment"), "confirm": "x"},
            "not_found",
        ),
    ],
)
def test_deploy_tools_bad_input(mcp_url, tenant, world, tool, args, code):
    args = {
        k: v.format(env=world.environment_id) if isinstance(v, str) else v for k, v in args.items()
    }
    error(call(mcp_url, tenant.key, tool, args), code)


def test_destroy_environment_needs_the_name_typed_out(mcp_url, tenant, world):
    args = {"environment_id": world.environment_id}
    err = error(
        call(mcp_url, tenant.key, "destroy_environment", {**args, "confirm": "yes"}),
        "confirmation_mismatch",
    )
    assert "'production'" in err["message"] and "nothing was destroyed" in err["message"]
    assert tenant.client.get("/api/deploys").json()["items"] == []
    teardown = ok(
        call(mcp_url, tenant.key, "destroy_environment", {**args, "confirm": "production"})
    )
    assert teardown["action"] == "teardown" and teardown["status"] == "queued"


# --- operating, through the agent --------------------------------------------------------


@pytest.mark.parametrize("tool", AGENT_TOOLS)
def test_agent_tools_before_the_first_deploy_say_to_deploy(mcp_url, tenant, world, tool):
    err = error(
        call(mcp_url, tenant.key, tool, _agent_args(tool, world.environment_id)), "no_instance"
    )
    assert "deploy it first" in err["message"]


@pytest.fixture
def published_agent(configure):
    """An agent build in the artifacts bucket, as `make agent-publish` leaves it."""
    s3 = boto3.client("s3")
    s3.create_bucket(
        Bucket="vmkit-agents", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    s3.put_object(
        Bucket="vmkit-agents",
        Key="vmkit-agent.pyz",
        Body=b"PK",
        Metadata={"version": "1.4.0", "sha256": "ab" * 32},
    )
    configure(AGENT_BUCKET="vmkit-agents")
    return "1.4.0"


@pytest.mark.parametrize("tool", AGENT_TOOLS)
def test_agent_tools_with_the_agent_offline_say_so(
    mcp_url, tenant, deps, world, published_agent, tool
):
    _attach_vm(deps, tenant, world, agent_version="1.3.0")
    err = error(
        call(mcp_url, tenant.key, tool, _agent_args(tool, world.environment_id)),
        "agent_unavailable",
    )
    assert "not connected" in err["message"] and "get_deploy" in err["hint"]


def test_upgrade_agent_on_the_published_version_has_nothing_to_do(
    mcp_url, tenant, deps, world, published_agent
):
    _attach_vm(deps, tenant, world, agent_version=published_agent)
    result = ok(
        call(mcp_url, tenant.key, "upgrade_agent", {"environment_id": world.environment_id})
    )
    assert result == {"status": "current", "version": published_agent}


@pytest.mark.parametrize(
    "arguments",
    [
        {"container": "web", "lines": 0},
        {"container": "web", "lines": 5001},
        {"container": "../etc/passwd"},
        {"container": ""},
        {},
    ],
)
def test_get_logs_bad_input(mcp_url, tenant, deps, world, arguments):
    _attach_vm(deps, tenant, world)
    result = call(
        mcp_url, tenant.key, "get_logs", {"environment_id": world.environment_id, **arguments}
    )
    err = error(result, "invalid_input")
    assert {d["field"] for d in err["details"]} <= {"container", "lines"}


def test_another_workspace_cannot_see_or_touch_an_environment(mcp_url, tenant, other_tenant, world):
    make_world(other_tenant)
    for tool, args in [
        ("deploy", {"environment_id": world.environment_id}),
        ("get_metrics", {"environment_id": world.environment_id}),
        ("set_env_vars", {"environment_id": world.environment_id, "unset": ["MODE"]}),
        ("scan_repo", {"repo_id": world.repo_id}),
    ]:
        error(call(mcp_url, other_tenant.key, tool, args), "not_found")
    theirs = ok(call(mcp_url, other_tenant.key, "list_environments"))["items"]
    assert world.environment_id not in {e["id"] for e in theirs}
