"""`vmkit init [PATH]`: the onboarding files for a local checkout, offline.

Like `kamal init` or `fly launch`: no account, no network. It scans the working
tree, generates the same files the onboarding pull request would carry, and writes
them, refusing to overwrite anything unless forced, and then all-or-nothing: a
refusal writes no file at all.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from vmkit.ai.context import GenerationContext
from vmkit.ai.model_generation import ModelSettings
from vmkit.ai.onboarding import GenerationReport, generate_onboarding
from vmkit.ai.repo_files import LocalCheckout
from vmkit.ai.repo_scanner import scan
from vmkit.ai.scan_result import ScanResult
from vmkit.errors import Conflict, InvalidInput
from vmkit.modelbase import Model

_GITHUB_REMOTE = re.compile(r"github\.com[:/]+([A-Za-z0-9][\w.-]*)/([\w.-]+?)(?:\.git)?/?$")


class InitFile(Model):
    path: str
    action: Literal["created", "overwritten", "would_create", "would_overwrite"]
    content: str
    explanation: str


class InitResult(Model):
    root: str
    owner: str
    repo: str
    app_url: str
    dry_run: bool
    scan: ScanResult
    files: list[InitFile]
    checklist: list[str]
    report: GenerationReport


def init_local(
    path: str | os.PathLike[str],
    *,
    force: bool = False,
    dry_run: bool = False,
    apps_domain: str = "vmkit.app",
    env: str = "production",
    owner: str | None = None,
    repo: str | None = None,
    vm_arch: Literal["arm64", "amd64"] = "arm64",
    app_path: str | None = None,
    model: ModelSettings | None = None,
) -> InitResult:
    """Scan the checkout at `path`, generate the onboarding files, write them.

    `owner`/`repo` default to the checkout's GitHub `origin` remote (repo falls back
    to the directory name). Raises InvalidInput for a bad path or context, the
    scanner's InvalidInput for a tree with no app, and Conflict, listing the files,
    when files exist and `force` is not set (unless `dry_run`, which never writes).
    """
    checkout = LocalCheckout(path)
    root = checkout.root
    remote = _github_remote(root)
    owner = owner or (remote[0] if remote else None)
    repo = repo or (remote[1] if remote else root.name)
    if not owner:
        raise InvalidInput(
            f"{root} has no GitHub 'origin' remote: "
            "pass the GitHub owner (--owner) that will hold the image",
            details={"path": str(root)},
        )
    try:
        ctx = GenerationContext(
            owner=owner, repo=repo, env_slug=env, apps_domain=apps_domain, vm_arch=vm_arch
        )
    except ValidationError as exc:
        messages = "; ".join(err["msg"].removeprefix("Value error, ") for err in exc.errors())
        raise InvalidInput(messages, details={"errors": [e["msg"] for e in exc.errors()]}) from exc

    result = scan(checkout, app_path=app_path)
    onboarding = generate_onboarding(result, ctx, model=model)
    existing = sorted(p for p in onboarding.files if (root / p).exists())
    if existing and not force and not dry_run:
        raise Conflict(
            f"Not overwriting existing files: {', '.join(existing)}. Use --force to replace them.",
            details={"existing": existing},
        )
    files = [
        InitFile(
            path=p,
            action=_action(p in existing, dry_run),
            content=content,
            explanation=onboarding.explanations.get(p, ""),
        )
        for p, content in sorted(onboarding.files.items())
    ]
    if not dry_run:
        for file in files:
            _write_atomically(root / file.path, file.content)
    return InitResult(
        root=str(root),
        owner=ctx.owner,
        repo=ctx.repo,
        app_url=f"https://{ctx.app_host}",
        dry_run=dry_run,
        scan=result,
        files=files,
        checklist=onboarding.checklist,
        report=onboarding.report,
    )


def _action(
    exists: bool, dry_run: bool
) -> Literal["created", "overwritten", "would_create", "would_overwrite"]:
    if dry_run:
        return "would_overwrite" if exists else "would_create"
    return "overwritten" if exists else "created"


def _write_atomically(target: Path, content: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _github_remote(root: Path) -> tuple[str, str] | None:
    """(owner, repo) of the `origin` remote if it is on GitHub, read from .git/config."""
    config = _git_config(root)
    if config is None:
        return None
    section = re.search(r'\[remote "origin"\]([^\[]*)', config)
    url = re.search(r"^\s*url\s*=\s*(\S+)", section.group(1), re.MULTILINE) if section else None
    match = _GITHUB_REMOTE.search(url.group(1)) if url else None
    return (match.group(1), match.group(2)) if match else None


def _git_config(root: Path) -> str | None:
    git = root / ".git"
    try:
        if git.is_file():  # a worktree or submodule: "gitdir: <path>"
            gitdir = Path(git.read_text(encoding="utf-8").removeprefix("gitdir:").strip())
            gitdir = gitdir if gitdir.is_absolute() else root / gitdir
            common = gitdir / "commondir"
            if common.is_file():
                gitdir = gitdir / common.read_text(encoding="utf-8").strip()
            return (gitdir / "config").read_text(encoding="utf-8")
        return (git / "config").read_text(encoding="utf-8")
    except OSError:
        return None
