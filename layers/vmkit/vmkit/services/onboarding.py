"""Onboarding: scan a connected repo and propose VMKit's files in one pull request.

The files are the user's: they land in the repo through a PR the user reviews and
merges, and files the repo already has are left alone unless asked.
"""

from __future__ import annotations

from typing import Literal

from vmkit import catalog
from vmkit.ai.scan_result import ScanResult
from vmkit.auth import Principal
from vmkit.deps import Deps
from vmkit.errors import NotFound
from vmkit.modelbase import Model
from vmkit.models import ComputeTarget, Environment, OnboardingState, Repo, Scope
from vmkit.ports import PullRequest
from vmkit.secrets import NotConfigured, get_secret
from vmkit.services import audit, repos

BRANCH = "vmkit/onboarding"
TITLE = "Deploy with VMKit"


class OnboardingResult(Model):
    repo_id: str
    pr_number: int
    pr_url: str
    created: bool
    files: list[str]
    kept: list[str]  # files the repo already had, left untouched
    fell_back: bool  # the model's answer was not used


def scan_repo(deps: Deps, principal: Principal, repo_id: str) -> ScanResult:
    from vmkit.ai.repo_scanner import scan

    principal.require(Scope.deploy)
    repo = deps.store.get(Repo, principal.workspace_id, repo_id)
    forge = repos.forge(deps, repo)
    result = scan(forge.files(repo.default_branch))
    repo.scan = result.model_dump(mode="json")
    deps.store.save(repo)
    audit.record(
        deps,
        principal,
        "repo.scan",
        "repo",
        repo.id,
        language=result.language,
        framework=result.framework,
    )
    return result


def onboard_repo(
    deps: Deps,
    principal: Principal,
    repo_id: str,
    *,
    environment_id: str | None = None,
    overwrite: bool = False,
) -> OnboardingResult:
    principal.require(Scope.deploy)
    if environment_id:
        principal.require_environment(environment_id)
    repo = deps.store.get(Repo, principal.workspace_id, repo_id)
    # A key restricted to some environments onboards only for those: the PR's config
    # names the chosen environment's host.
    envs = [e for e in deps.store.children(Environment, repo.id) if principal.may_see(e.id)]
    env = (
        next((e for e in envs if e.id == environment_id), None)
        if environment_id
        else (envs[0] if envs else None)
    )
    if env is None:
        raise NotFound(
            f"{repo.full_name} has no environment{' ' + environment_id if environment_id else ''} yet; "
            "create one first (the generated config names its host)"
        )
    result = _propose(deps, repo, env, overwrite=overwrite)
    audit.record(
        deps, principal, "repo.onboard", "repo", repo.id, pr=result.pr_url, files=result.files
    )
    return result


def open_pull_request(deps: Deps, repo: Repo, env: Environment) -> PullRequest:
    """For the deploy's OpenOnboardingPR step."""
    result = _propose(deps, repo, env, overwrite=False)
    return PullRequest(number=result.pr_number, url=result.pr_url, created=result.created)


def _vm_arch(deps: Deps, env: Environment) -> Literal["arm64", "amd64"]:
    """The image must be built for the VM it runs on: arm64 on Hetzner's cax, amd64 on
    DigitalOcean's Droplets."""
    target = deps.store.get(ComputeTarget, env.workspace_id, env.compute_target_id)
    return catalog.server_type(target.provider, env.server_type).arch


def _propose(deps: Deps, repo: Repo, env: Environment, *, overwrite: bool) -> OnboardingResult:
    from vmkit.ai import GenerationContext, generate_onboarding, scan

    forge = repos.forge(deps, repo)
    files_view = forge.files(repo.default_branch)
    scan_result = scan(files_view)
    ctx = GenerationContext(
        owner=repo.owner,
        repo=repo.name,
        env_slug=env.slug,
        apps_domain=deps.settings.apps_domain,
        host=env.hostname,
        vm_arch=_vm_arch(deps, env),
    )
    model = _model(deps)
    onboarding = generate_onboarding(scan_result, ctx, model=model)
    existing = set(files_view.list_paths())
    kept = sorted(p for p in onboarding.files if p in existing and not overwrite)
    files = {p: c for p, c in onboarding.files.items() if p not in kept}
    pr = forge.propose(
        branch=BRANCH,
        base=repo.default_branch,
        files=files,
        title=TITLE,
        body=_body(
            onboarding.explanations, onboarding.checklist, kept, onboarding.report.fell_back
        ),
    )
    repo.scan = scan_result.model_dump(mode="json")
    repo.github_repo_id = repo.github_repo_id or forge.repo_id()
    repo.generation = onboarding.report.model_dump(mode="json")
    repo.onboarding = OnboardingState.pr_open
    repo.onboarding_pr_number, repo.onboarding_pr_url = pr.number, pr.url
    deps.store.save(repo)
    return OnboardingResult(
        repo_id=repo.id,
        pr_number=pr.number,
        pr_url=pr.url,
        created=pr.created,
        files=sorted(files),
        kept=kept,
        fell_back=onboarding.report.fell_back,
    )


def _model(deps: Deps):  # -> ModelSettings | None
    from vmkit.ai import ModelSettings

    try:
        key = get_secret(deps.settings.anthropic_key_parameter, "the Anthropic API key")
    except NotConfigured:
        return None
    return ModelSettings(api_key=key)


def _body(
    explanations: dict[str, str], checklist: list[str], kept: list[str], fell_back: bool
) -> str:
    lines = [
        "VMKit proposes these files so this repo can deploy to a server you own. "
        "They are yours: review, edit, then merge to continue the deploy.",
        "",
        "## Files",
        "",
    ]
    lines += [
        f"- `{path}`: {why}" for path, why in sorted(explanations.items()) if path not in kept
    ]
    if kept:
        lines += [
            "",
            "Left as they are (the repo already has them): " + ", ".join(f"`{p}`" for p in kept),
        ]
    lines += ["", "## Before you merge", ""] + [f"- [ ] {item}" for item in checklist]
    if fell_back:
        lines += ["", "_Generated by VMKit's rule-based generators._"]
    return "\n".join(lines) + "\n"
