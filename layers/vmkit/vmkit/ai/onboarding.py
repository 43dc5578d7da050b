"""Generate the onboarding files: rules always, the model when configured, and a
validation gate between the model and the user's repo.

Each generator runs its deterministic rules first. With model settings, the model
then gets the rules' draft to improve; its answer replaces the draft only if it
passes the same checks the tests hold the rules to. Otherwise the draft ships and
the report says why (`fallback_reason`), so a flaky or wrong model never blocks an
onboarding and never lands a broken file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from pydantic import computed_field

from vmkit.ai import (
    dockerfile_generator,
    env_stub_generator,
    gh_actions_generator,
    kamal_config_generator,
)
from vmkit.ai.context import GenerationContext
from vmkit.ai.generation_plan import GenerationPlan
from vmkit.ai.kamal_config_generator import DEPLOY_PATH, SECRETS_PATH
from vmkit.ai.kamal_validator import (
    load_kamal_config,
    secret_names,
    validate_kamal_config,
    validate_kamal_secrets,
)
from vmkit.ai.model_generation import (
    PROMPT_VERSION,
    ModelFailure,
    ModelSettings,
    ask_model,
    build_prompt,
    make_client,
)
from vmkit.ai.scan_result import ScanResult
from vmkit.ai.validators import (
    Linters,
    check_dockerfile_policy,
    check_env_stub,
    check_workflow_contract,
    find_literal_secrets,
)
from vmkit.errors import VMKitError
from vmkit.modelbase import Model

Files = dict[str, str]


class GeneratorReport(Model):
    generator: str
    paths: list[str]
    source: Literal["rules", "model"]
    model: str | None = None
    prompt_version: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    fallback_reason: str | None = None
    notes: list[str] = []


class GenerationReport(Model):
    """What wrote each file; the lead stores it on the repo record."""

    generators: list[GeneratorReport]

    @computed_field
    @property
    def model(self) -> str | None:
        return next((g.model for g in self.generators if g.model), None)

    @computed_field
    @property
    def prompt_version(self) -> str | None:
        return next((g.prompt_version for g in self.generators if g.prompt_version), None)

    @computed_field
    @property
    def input_tokens(self) -> int:
        return sum(g.input_tokens for g in self.generators)

    @computed_field
    @property
    def output_tokens(self) -> int:
        return sum(g.output_tokens for g in self.generators)

    @computed_field
    @property
    def fell_back(self) -> bool:
        return any(g.fallback_reason for g in self.generators)


class Onboarding(Model):
    files: Files
    #: path -> what the file does, for the pull request body.
    explanations: dict[str, str]
    #: What the user must check before merging.
    checklist: list[str]
    report: GenerationReport


@dataclass(frozen=True)
class Generator:
    name: str
    rules: Callable[[ScanResult, GenerationContext], Files]
    purpose: str
    requirements: tuple[str, ...]
    validate: Callable[[Files, GenerationPlan, Linters], list[str]]


def _validate_workflow(files: Files, plan: GenerationPlan, linters: Linters) -> list[str]:
    text = files.get(gh_actions_generator.WORKFLOW_PATH, "")
    problems = check_workflow_contract(text)
    problems += [
        f"the Kamal step must export {name}"
        for name in plan.kamal_secret_names
        if f"{name}:" not in text
    ]
    if linters.actionlint and not problems:
        problems += linters.actionlint_problems(text)
    return problems


def _validate_kamal(files: Files, plan: GenerationPlan, linters: Linters) -> list[str]:
    deploy, secrets = files.get(DEPLOY_PATH, ""), files.get(SECRETS_PATH, "")
    problems = validate_kamal_config(deploy, secrets_text=secrets, expected_arch=plan.ctx.vm_arch)
    problems += validate_kamal_secrets(secrets)
    if secret_names(secrets) != set(plan.kamal_secret_names):
        problems.append(".kamal/secrets must read exactly the variables the workflow exports")
    if not problems:
        config = load_kamal_config(deploy)
        if config.get("image") != plan.ctx.image:
            problems.append(f"image must be {plan.ctx.image} (where the workflow pushes)")
        if (config.get("proxy") or {}).get("host") != plan.ctx.app_host:
            problems.append(f"proxy.host must be {plan.ctx.app_host} (VMKit's DNS name)")
    return problems


def _validate_dockerfile(files: Files, plan: GenerationPlan, linters: Linters) -> list[str]:
    problems = []
    for text in files.values():
        problems += check_dockerfile_policy(text)
        if linters.hadolint:
            problems += linters.hadolint_problems(text)
    return problems


def _validate_env_stub(files: Files, plan: GenerationPlan, linters: Linters) -> list[str]:
    return [p for text in files.values() for p in check_env_stub(text)]


GENERATORS: tuple[Generator, ...] = (
    Generator(
        "gh_actions",
        gh_actions_generator.generate,
        "GitHub Actions workflow VMKit dispatches: builds the image, pushes it to GHCR "
        "and runs `kamal deploy` over SSH as the `kamal` user.",
        (
            "workflow_dispatch with a required string input deploy_id; run-name contains "
            "${{ inputs.deploy_id }}",
            "permissions exactly contents: read and packages: write",
            "concurrency group per inputs.environment",
            "every `uses:` pinned to a full 40-character commit SHA with a version comment",
            "deploy key from secrets.VMKIT_SSH_PRIVATE_KEY through ssh-agent; "
            "KAMAL_REGISTRY_PASSWORD is secrets.GITHUB_TOKEN",
            'end with `kamal deploy --skip-push --version "$VERSION"`',
            "export to the Kamal step every variable .kamal/secrets reads",
        ),
        _validate_workflow,
    ),
    Generator(
        "kamal_config",
        kamal_config_generator.generate,
        "Kamal 2 configuration: the app's server, registry, builder, proxy (HTTPS, "
        "host name, health check), environment and backing services.",
        (
            "valid Kamal 2 configuration: service, image, servers.web, registry, builder.arch",
            "proxy.ssl true with the given host, app_port and healthcheck.path",
            ".kamal/secrets lines are NAME=$NAME only, never values",
            "keep the image, registry, host and the set of secret names of the draft",
        ),
        _validate_kamal,
    ),
    Generator(
        "dockerfile",
        dockerfile_generator.generate,
        "Dockerfile for an app Cloud Native Buildpacks cannot build.",
        (
            "multi-stage build",
            "base images pinned by version tag (never latest)",
            "final stage runs as a non-root numeric USER",
            "passes hadolint",
        ),
        _validate_dockerfile,
    ),
    Generator(
        "env_stub",
        env_stub_generator.generate,
        "The environment variables the app needs, by name only: set their values in VMKit.",
        ("one NAME= line per variable with no value; comments start with #",),
        _validate_env_stub,
    ),
)


def generate_onboarding(
    scan: ScanResult,
    ctx: GenerationContext,
    *,
    model: ModelSettings | None = None,
    linters: Linters | None = None,
    secret_values: Iterable[str] = (),
) -> Onboarding:
    """The onboarding files for `scan` deployed per `ctx`.

    `secret_values` are the environment's secret values if the caller has them: no
    generated file may contain one (a model answer that does is rejected).
    """
    linters = linters or Linters(actionlint=None, hadolint=None)
    plan = GenerationPlan(scan, ctx)
    secrets = [v for v in secret_values if v]
    drafts = [(g, g.rules(scan, ctx)) for g in GENERATORS]
    drafts = [(g, files) for g, files in drafts if files]
    if model is None:
        results = [
            (files, GeneratorReport(generator=g.name, paths=list(files), source="rules"))
            for g, files in drafts
        ]
    else:
        client = make_client(model)
        with ThreadPoolExecutor(max_workers=len(drafts)) as pool:
            futures = [
                pool.submit(_with_model, g, files, plan, model, client, linters, secrets)
                for g, files in drafts
            ]
            results = [f.result() for f in futures]
    files: Files = {}
    for generated, _ in results:
        files.update(generated)
    return Onboarding(
        files=files,
        explanations={path: g.purpose for g, generated in drafts for path in generated},
        checklist=review_checklist(scan, plan),
        report=GenerationReport(generators=[report for _, report in results]),
    )


def _with_model(
    generator: Generator,
    draft: Files,
    plan: GenerationPlan,
    settings: ModelSettings,
    client: object,
    linters: Linters,
    secrets: list[str],
) -> tuple[Files, GeneratorReport]:
    report = GeneratorReport(
        generator=generator.name,
        paths=list(draft),
        source="rules",
        model=settings.model,
        prompt_version=PROMPT_VERSION,
    )
    prompt = build_prompt(generator.purpose, list(generator.requirements), _brief(plan), draft)
    try:
        reply = ask_model(client, settings, prompt)  # type: ignore[arg-type]
    except ModelFailure as failure:
        report.input_tokens, report.output_tokens = failure.input_tokens, failure.output_tokens
        report.fallback_reason = failure.reason
        return draft, report
    report.model = reply.model
    report.input_tokens, report.output_tokens = reply.input_tokens, reply.output_tokens
    answer = {f.path: f.content for f in reply.answer.files}
    try:
        problems = _answer_problems(generator, answer, draft, plan, linters, secrets)
    except VMKitError as exc:  # a linter that cannot run proves nothing: keep the rules
        problems = [exc.message]
    if problems:
        report.fallback_reason = "model answer failed validation: " + "; ".join(problems[:3])
        return draft, report
    report.source = "model"
    report.notes = reply.answer.notes
    return {path: _with_newline(content) for path, content in answer.items()}, report


def _answer_problems(
    generator: Generator,
    answer: Files,
    draft: Files,
    plan: GenerationPlan,
    linters: Linters,
    secrets: list[str],
) -> list[str]:
    if set(answer) != set(draft):
        return [f"expected files {sorted(draft)}, got {sorted(answer)}"]
    return find_literal_secrets(answer, secrets) + generator.validate(answer, plan, linters)


def _brief(plan: GenerationPlan) -> dict[str, object]:
    """What the model may know: the scan (names and paths only) and the context."""
    return {
        "scan": plan.scan.model_dump(mode="json"),
        "context": plan.ctx.model_dump(mode="json")
        | {"app_host": plan.ctx.app_host, "image": plan.ctx.image, "service": plan.ctx.service},
    }


def _with_newline(content: str) -> str:
    return content if content.endswith("\n") else content + "\n"


def review_checklist(scan: ScanResult, plan: GenerationPlan) -> list[str]:
    """What a person should check before merging the onboarding PR."""
    items = [
        f"The app listens on port {scan.port} (it gets PORT={scan.port}) and answers "
        f"{scan.health_path} with 200 once it is ready.",
    ]
    if scan.start_command:
        items.append(f"It starts with `{scan.start_command}`.")
    if plan.app_secret_names or plan.accessory_secret_names:
        names = ", ".join(dict.fromkeys([*plan.app_secret_names, *plan.accessory_secret_names]))
        items.append(f"Set these secrets in VMKit before deploying: {names}.")
    if plan.app_config_names:
        items.append(f"Set these settings in VMKit: {', '.join(plan.app_config_names)}.")
    if plan.accessories:
        services = ", ".join(spec.name for spec in plan.accessories)
        items.append(f"Kamal will run {services} on the same server, with data kept in volumes.")
    if scan.needs_generated_dockerfile:
        items.append("Review the generated Dockerfile: buildpacks cannot build this app.")
    items += [f"Scanner warning: {w}" for w in scan.warnings]
    return items
