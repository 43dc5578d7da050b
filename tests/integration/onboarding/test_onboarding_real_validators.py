"""Every generated file, for every sample app, through the real tools that consume it:
actionlint for the workflow, hadolint for the Dockerfile, Kamal 2's rules for
config/deploy.yml; and no secret value anywhere in what is generated."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import pytest

from vmkit.ai.context import GenerationContext
from vmkit.ai.generation_plan import GenerationPlan
from vmkit.ai.kamal_validator import validate_kamal_config, validate_kamal_secrets
from vmkit.ai.onboarding import GENERATORS, generate_onboarding
from vmkit.ai.repo_files import LocalCheckout
from vmkit.ai.repo_scanner import scan
from vmkit.ai.validators import (
    Linters,
    check_dockerfile_policy,
    check_env_stub,
    check_workflow_contract,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
APPS = REPO_ROOT / "tests" / "fixtures" / "apps"
SAMPLES = {p.name: p for p in APPS.iterdir() if p.name != "no-app"} | {
    "hello": REPO_ROOT / "examples" / "hello"
}
WORKFLOW = ".github/workflows/vmkit-deploy.yml"


@pytest.fixture(scope="module")
def linters() -> Linters:
    found = Linters.discover()
    assert found.actionlint, "actionlint missing: run make setup"
    assert found.hadolint, "hadolint missing: run make setup"
    return found


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """name -> (files, scan json, canary values), each app generated with canary
    values for every variable it needs, in its environment and in a committed .env."""
    out = {}
    with pytest.MonkeyPatch.context() as env:
        for name, source in sorted(SAMPLES.items()):
            root = tmp_path_factory.mktemp(name) / name
            shutil.copytree(source, root)
            first = scan(LocalCheckout(root))
            ctx = GenerationContext(owner="Acme", repo=name)
            names = {v.name for v in first.env_vars} | set(
                GenerationPlan(first, ctx).kamal_secret_names
            )
            canaries = {n: f"canary-{secrets.token_hex(8)}" for n in sorted(names)}
            (root / ".env").write_text("".join(f"{n}={v}\n" for n, v in canaries.items()))
            for n, v in canaries.items():
                env.setenv(n, v)
            result = scan(LocalCheckout(root))
            onboarding = generate_onboarding(result, ctx, secret_values=canaries.values())
            out[name] = (onboarding.files, result.model_dump_json(), list(canaries.values()))
    return out


def test_every_workflow_passes_actionlint_and_the_vmkit_contract(generated, linters):
    workflows = {name: files[WORKFLOW] for name, (files, _, _) in generated.items()}

    assert linters.actionlint_many(workflows) == {name: [] for name in workflows}
    for name, text in workflows.items():
        assert check_workflow_contract(text) == [], name


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_deploy_yml_passes_kamal_rules_with_its_secrets_file(generated, name):
    files = generated[name][0]

    assert (
        validate_kamal_config(
            files["config/deploy.yml"], secrets_text=files[".kamal/secrets"], expected_arch="arm64"
        )
        == []
    )
    assert validate_kamal_secrets(files[".kamal/secrets"]) == []
    assert check_env_stub(files["config/vmkit.env.example"]) == []


def test_every_generated_dockerfile_passes_hadolint_and_the_policy(generated, linters):
    dockerfiles = {n: f["Dockerfile"] for n, (f, _, _) in generated.items() if "Dockerfile" in f}

    assert set(dockerfiles) == {"rust-axum", "static-site"}
    for name, text in dockerfiles.items():
        assert linters.hadolint_problems(text) == [], name
        assert check_dockerfile_policy(text) == [], name


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_no_secret_value_appears_in_any_generated_file_or_the_scan(generated, name):
    files, scan_json, canaries = generated[name]
    text = "\n".join(files.values()) + scan_json

    assert canaries
    leaked = [c for c in canaries if c in text]
    assert leaked == []


def test_actionlint_wrapper_reports_a_broken_workflow(generated, linters):
    workflow = generated["hello"][0][WORKFLOW]
    broken = workflow.replace("${{ inputs.deploy_id }}", "${{ inputs.deploy_idd }}")

    problems = linters.actionlint_problems(broken)

    assert len(problems) == 1 and 'property "deploy_idd" is not defined' in problems[0]


def test_hadolint_wrapper_reports_a_bad_dockerfile(linters):
    problems = linters.hadolint_problems("FROM ubuntu\nRUN apt-get install -y curl\n")

    codes = {p.split()[1] for p in problems}
    assert {"DL3006", "DL3008", "DL3015"} <= codes


def test_the_model_gate_runs_actionlint_beyond_the_contract(generated, linters):
    """A model answer can meet VMKit's contract and still be broken for GitHub."""
    name = "python-django"
    result = scan(LocalCheckout(SAMPLES[name]))
    plan = GenerationPlan(result, GenerationContext(owner="Acme", repo=name))
    workflow = (
        generated[name][0][WORKFLOW] + "      - run: echo ${{ github.nonexistent_context }}\n"
    )
    gate = next(g for g in GENERATORS if g.name == "gh_actions")

    assert check_workflow_contract(workflow) == []
    problems = gate.validate({WORKFLOW: workflow}, plan, linters)

    assert any("nonexistent_context" in p for p in problems)


def test_the_model_gate_runs_hadolint_beyond_the_policy(linters):
    result = scan(LocalCheckout(SAMPLES["rust-axum"]))
    plan = GenerationPlan(result, GenerationContext(owner="Acme", repo="rust-axum"))
    dockerfile = (
        "FROM rust:1.88-slim-bookworm AS build\nRUN apt-get update && apt-get install -y git\n"
        "FROM debian:12.11-slim\nUSER 10001\n"
    )
    gate = next(g for g in GENERATORS if g.name == "dockerfile")

    assert check_dockerfile_policy(dockerfile) == []
    assert any("DL3008" in p for p in gate.validate({"Dockerfile": dockerfile}, plan, linters))
