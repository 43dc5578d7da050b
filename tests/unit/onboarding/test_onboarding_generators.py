"""The rule-based generators and the pure checks every generated file must pass."""

from __future__ import annotations

import pytest
import yaml
from conftest import scan_app
from pydantic import ValidationError

from vmkit.ai import dockerfile_generator, gh_actions_generator
from vmkit.ai.context import GenerationContext, app_hostname
from vmkit.ai.kamal_validator import load_kamal_config, secret_names
from vmkit.ai.onboarding import generate_onboarding
from vmkit.ai.repo_files import LocalCheckout
from vmkit.ai.repo_scanner import scan
from vmkit.ai.validators import (
    check_dockerfile_policy,
    check_env_stub,
    check_workflow_contract,
    find_literal_secrets,
)
from vmkit.errors import InvalidInput

ALL_APPS = [
    "python-django", "python-flask", "python-fastapi", "node-express", "node-nextjs",
    "node-remix", "ruby-rails", "go-gin", "rust-axum", "java-spring", "static-site",
    "monorepo", "with-dockerfile", "hello",
]  # fmt: skip
WORKFLOW = gh_actions_generator.WORKFLOW_PATH


def onboard(name: str, ctx: GenerationContext) -> dict[str, str]:
    return generate_onboarding(scan_app(name), ctx).files


# -- context ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("owner", "acme corp", "not a GitHub owner or repository name"),
        ("repo", "../etc", "not a GitHub owner or repository name"),
        ("env_slug", "Staging Env", "use 'staging-env'"),
        ("apps_domain", "not a domain!", "not a domain name"),
        ("server_host_env", "lower", "not an environment variable name"),
        ("vm_arch", "riscv64", "Input should be 'arm64' or 'amd64'"),
    ],
)
def test_bad_context_is_refused_with_a_clear_message(field, value, message):
    with pytest.raises(ValidationError, match=message):
        GenerationContext(**{"owner": "acme", "repo": "app", field: value})


def test_app_host_is_repo_slug_dash_env_slug_and_fits_a_dns_label():
    assert (
        app_hostname("My_Invoicer", "production", "vmkit.app") == "my-invoicer-production.vmkit.app"
    )
    long_host = app_hostname("a" * 100, "staging", "vmkit.app")
    assert len(long_host.split(".")[0]) == 63
    assert long_host.endswith("-staging.vmkit.app")


# -- which files -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "dockerfile"),
    [
        ("rust-axum", "Dockerfile"),
        ("static-site", "Dockerfile"),
        ("python-django", None),
        ("with-dockerfile", None),
        ("monorepo", None),
    ],
)
def test_a_dockerfile_is_generated_only_when_buildpacks_cannot_build(name, dockerfile, ctx):
    generated = dockerfile_generator.generate(scan_app(name), ctx)

    assert list(generated) == ([dockerfile] if dockerfile else [])


def test_a_dockerfile_for_an_unsupported_language_is_refused(ctx):
    result = scan_app("go-gin").model_copy(update={"buildpacks": scan_app("rust-axum").buildpacks})

    with pytest.raises(InvalidInput, match="cannot write a Dockerfile for a go app"):
        dockerfile_generator.generate(result, ctx)


@pytest.mark.parametrize("name", ALL_APPS)
def test_onboarding_files_are_the_four_of_the_pr(name, ctx):
    files = onboard(name, ctx)

    expected = {WORKFLOW, "config/deploy.yml", ".kamal/secrets", "config/vmkit.env.example"}
    if name in ("rust-axum", "static-site"):
        expected.add("Dockerfile")
    assert set(files) == expected


# -- the three deploy files agree ----------------------------------------------------


def exported_names(workflow_text: str) -> set[str]:
    workflow = yaml.safe_load(workflow_text)
    deploy = next(
        s for s in workflow["jobs"]["deploy"]["steps"] if "kamal deploy" in s.get("run", "")
    )
    return set(deploy["env"])


@pytest.mark.parametrize("name", ALL_APPS)
def test_workflow_exports_what_kamal_secrets_reads_and_deploy_yml_uses(name, ctx):
    files = onboard(name, ctx)
    config = load_kamal_config(files["config/deploy.yml"])
    read = secret_names(files[".kamal/secrets"])

    used = set(config["env"].get("secret", [])) | set(config["registry"]["password"])
    for accessory in (config.get("accessories") or {}).values():
        used |= set(accessory.get("env", {}).get("secret", []))
    assert used == read
    assert read <= exported_names(files[WORKFLOW])
    assert exported_names(files[WORKFLOW]) - read == {ctx.server_host_env}


def test_pack_build_uses_the_scans_builder_the_vms_platform_and_the_app_path(ctx):
    workflow = onboard("monorepo", ctx)[WORKFLOW]

    assert "--builder heroku/builder:24" in workflow
    assert "--platform linux/arm64" in workflow
    assert '--path "apps/web"' in workflow
    assert "runs-on: ubuntu-24.04-arm" in workflow
    assert "docker build" not in workflow


def test_repos_with_a_dockerfile_build_it_and_skip_buildpacks(ctx):
    workflow = onboard("with-dockerfile", ctx)[WORKFLOW]

    assert 'docker build --platform linux/arm64 --file "Dockerfile"' in workflow
    assert "pack build" not in workflow and "setup-pack" not in workflow


def test_amd64_servers_get_amd64_builds_everywhere():
    ctx = GenerationContext(owner="acme", repo="app", vm_arch="amd64")
    files = onboard("node-express", ctx)

    assert "runs-on: ubuntu-24.04\n" in files[WORKFLOW]
    assert "--platform linux/amd64" in files[WORKFLOW]
    assert load_kamal_config(files["config/deploy.yml"])["builder"]["arch"] == "amd64"


def test_kamal_config_points_at_vmkits_host_image_and_the_server_from_the_environment(ctx):
    config_text = onboard("python-django", ctx)["config/deploy.yml"]
    config = load_kamal_config(config_text, {"VMKIT_SERVER_HOST": "203.0.113.7"})

    assert config["image"] == "acme/invoicer"
    assert config["servers"]["web"]["hosts"] == ["203.0.113.7"]
    assert config["servers"]["web"]["cmd"] == "gunicorn mysite.wsgi --bind 0.0.0.0:8000"
    assert config["proxy"] == {
        "ssl": True,
        "host": "invoicer-production.vmkit.app",
        "app_port": 8000,
        "healthcheck": {"path": "/healthz/", "interval": 3, "timeout": 5},
    }
    assert config["ssh"] == {"user": "kamal"}
    assert config["accessories"]["postgres"]["host"] == "203.0.113.7"
    # Without the variable, the server is the app's DNS name.
    assert load_kamal_config(config_text)["servers"]["web"]["hosts"] == [
        "invoicer-production.vmkit.app"
    ]


def test_buildpack_apps_let_kamal_build_with_pack_too(ctx):
    builder = load_kamal_config(onboard("ruby-rails", ctx)["config/deploy.yml"])["builder"]

    assert builder == {
        "arch": "arm64",
        "pack": {"builder": "heroku/builder:24", "buildpacks": ["heroku/ruby", "heroku/procfile"]},
    }


def test_env_stub_lists_names_grouped_with_where_they_were_found(ctx):
    stub = onboard("python-django", ctx)["config/vmkit.env.example"]

    assert (
        "DATABASE_URL=\n" in stub and "ALLOWED_HOSTS=\n" in stub and "POSTGRES_PASSWORD=\n" in stub
    )
    assert "read in mysite/settings.py" in stub
    assert "invoicer-postgres:5432" in stub
    assert check_env_stub(stub) == []


def test_onboarding_without_a_model_is_all_rules_and_explains_each_file(ctx):
    onboarding = generate_onboarding(scan_app("python-django"), ctx)

    assert {g.source for g in onboarding.report.generators} == {"rules"}
    assert onboarding.report.model is None and onboarding.report.input_tokens == 0
    assert set(onboarding.explanations) == set(onboarding.files)
    assert any("DATABASE_URL" in item for item in onboarding.checklist)
    assert any("/healthz/" in item for item in onboarding.checklist)


# -- pure checks reject what they must ------------------------------------------------


def good_workflow(ctx) -> str:
    return onboard("python-django", ctx)[WORKFLOW]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1",
            "@v7",
            "must be pinned to a full commit SHA",
        ),
        (
            "  contents: read\n  packages: write\n",
            "  contents: write\n",
            "more than the deploy needs",
        ),
        (
            "permissions:\n  contents: read\n  packages: write\n",
            "permissions: write-all\n",
            "not a blanket",
        ),
        (
            "run-name: VMKit deploy ${{ inputs.deploy_id }}",
            "run-name: VMKit deploy",
            "run-name must contain",
        ),
        (
            "        required: true\n        type: string\n      environment:",
            "        type: string\n      environment:",
            "deploy_id must exist and be required",
        ),
        (
            "  group: vmkit-deploy-${{ inputs.environment }}",
            "  group: vmkit-deploy",
            "per environment",
        ),
        ('kamal deploy --skip-push --version "$VERSION"', "kamal deploy", "kamal deploy --version"),
        (
            "${{ secrets.VMKIT_SSH_PRIVATE_KEY }}",
            "${{ secrets.OTHER_KEY }}",
            "secrets.VMKIT_SSH_PRIVATE_KEY",
        ),
        (
            "KAMAL_REGISTRY_PASSWORD: ${{ secrets.GITHUB_TOKEN }}",
            "KAMAL_REGISTRY_PASSWORD: ${{ secrets.PAT }}",
            "must be secrets.GITHUB_TOKEN",
        ),
    ],
)
def test_workflow_contract_rejects_broken_workflows(old, new, message, ctx):
    workflow = good_workflow(ctx)
    assert old in workflow
    assert check_workflow_contract(workflow) == []

    found = check_workflow_contract(workflow.replace(old, new))

    assert any(message in p for p in found), found


def test_workflow_contract_rejects_non_yaml():
    assert check_workflow_contract("on: [")[0].startswith("workflow is not valid YAML")


@pytest.mark.parametrize(
    ("dockerfile", "message"),
    [
        ("FROM debian:12.11-slim\nUSER 1000\n", "must be multi-stage"),
        ("FROM rust:latest AS b\nFROM debian:12-slim\nUSER 1000\n", "'rust:latest' must be pinned"),
        ("FROM rust AS b\nFROM debian:12-slim\nUSER 1000\n", "'rust' must be pinned"),
        ("FROM rust:1.88 AS b\nFROM debian:12-slim\n", "non-root USER"),
        ("FROM rust:1.88 AS b\nUSER 1000\nFROM debian:12-slim\nUSER root\n", "non-root USER"),
    ],
)
def test_dockerfile_policy_rejects_unsafe_images(dockerfile, message):
    assert any(message in p for p in check_dockerfile_policy(dockerfile))


@pytest.mark.parametrize("name", ["rust-axum", "static-site"])
def test_generated_dockerfiles_meet_the_policy(name, ctx):
    assert check_dockerfile_policy(onboard(name, ctx)["Dockerfile"]) == []


def test_literal_secret_detection_names_the_file_not_the_value():
    found = find_literal_secrets(
        {"a.yml": "x: hunter2-canary", "b.yml": "ok"}, ["hunter2-canary", ""]
    )

    assert found == ["a.yml contains a secret value; it must reference the secret by name instead"]


def test_env_stub_check_rejects_values():
    assert check_env_stub("# c\nA=\nB=value\n") == ["env stub line 3 must be NAME= with no value"]


def test_app_variables_never_shadow_the_deploys_own(app_copy, ctx):
    root = app_copy("hello")
    (root / ".env.example").write_text(
        "KAMAL_REGISTRY_PASSWORD=\nVMKIT_SERVER_HOST=\nGITHUB_TOKEN=\nKAMAL_HOST=\nSTRIPE_KEY=\n"
    )
    files = generate_onboarding(scan(LocalCheckout(root)), ctx).files

    assert exported_names(files[WORKFLOW]) == {
        "KAMAL_REGISTRY_PASSWORD",
        "VMKIT_SERVER_HOST",
        "APP_VERSION",
        "STRIPE_KEY",
    }
    assert "${{ secrets.GITHUB_TOKEN }}" in files[WORKFLOW]
    assert "secrets.KAMAL_REGISTRY_PASSWORD" not in files[WORKFLOW]
