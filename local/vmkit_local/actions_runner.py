"""What GitHub's runner gives the deploy step: the environment the workflow file declares.

The local run does not execute the workflow's shell steps, but it must see exactly the
environment the repo's workflow would hand to `kamal deploy`: the job's and the
deploy step's `env:` with their `${{ … }}` expressions evaluated. So a workflow that
forgets to pass a secret fails locally as it would on GitHub. The expressions
understood are the ones workflows use for this: `secrets.X`, `vars.X`, `inputs.x`,
`github.*` values, string literals, and `||` fallbacks; anything else is an error
that names the expression.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

SSH_KEY_VARIABLE = "VMKIT_SSH_PRIVATE_KEY"
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_OPERAND = re.compile(
    r"^(?:'((?:[^']|'')*)'|(secrets|vars|inputs|github)\.([A-Za-z_][A-Za-z0-9_-]*))$"
)


class WorkflowExpressionError(ValueError):
    pass


def deploy_step_environment(run: Mapping[str, Any], secrets: Mapping[str, str]) -> dict[str, str]:
    """The env of the step that runs `kamal deploy` (job env first, then the step's own).

    Kamal authenticates over SSH with the keys an earlier step loaded into ssh-agent;
    the key that step was given is passed on as `VMKIT_SSH_PRIVATE_KEY`, the runner's
    stand-in for the agent socket.
    """
    contexts = _contexts(run, secrets)
    for job in (run.get("workflow") or {}).get("jobs", {}).values():
        steps = job.get("steps") or []
        agent_keys = [
            _step_env(job, s, contexts) for s in steps if "ssh-add" in str(s.get("run", ""))
        ]
        for step in steps:
            if "kamal deploy" in str(step.get("run", "")):
                env = _step_env(job, step, contexts)
                for loaded in agent_keys:
                    if loaded.get(SSH_KEY_VARIABLE):
                        env[SSH_KEY_VARIABLE] = loaded[SSH_KEY_VARIABLE]
                return env
    raise WorkflowExpressionError("the workflow has no step that runs `kamal deploy`")


def image_check_environment(
    run: Mapping[str, Any], secrets: Mapping[str, str]
) -> dict[str, str] | None:
    """The env of the step that looks the image up in the registry (`docker manifest
    inspect`, which decides whether the build runs), or None if the workflow has none."""
    contexts = _contexts(run, secrets)
    for job in (run.get("workflow") or {}).get("jobs", {}).values():
        for step in job.get("steps") or []:
            if "docker manifest inspect" in str(step.get("run", "")):
                return _step_env(job, step, contexts)
    return None


def _contexts(run: Mapping[str, Any], secrets: Mapping[str, str]) -> dict[str, dict[str, str]]:
    return {
        "secrets": dict(secrets),
        "vars": dict(run.get("variables") or {}),
        "inputs": {
            k: "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in (run.get("inputs") or {}).items()
        },
        "github": {
            "sha": str(run.get("head_sha", "")),
            "ref": str(run.get("ref", "")),
            "actor": str(run.get("actor", "")),
            "repository": str(run.get("repository", "")),
            "repository_owner": str(run.get("repository", "")).split("/")[0],
            "run_id": str(run.get("id", "")),
        },
    }


def _step_env(
    job: Mapping[str, Any], step: Mapping[str, Any], contexts: Mapping[str, Mapping[str, str]]
) -> dict[str, str]:
    declared = {**(job.get("env") or {}), **(step.get("env") or {})}
    return {name: render(str(value), contexts) for name, value in declared.items()}


def render(text: str, contexts: Mapping[str, Mapping[str, str]]) -> str:
    return _EXPRESSION.sub(lambda m: _evaluate(m.group(1), contexts), text)


def _evaluate(expression: str, contexts: Mapping[str, Mapping[str, str]]) -> str:
    for operand in (part.strip() for part in expression.split("||")):
        match = _OPERAND.match(operand)
        if match is None:
            raise WorkflowExpressionError(
                f"the local runner does not evaluate '${{{{ {expression} }}}}'"
            )
        literal, context, name = match.groups()
        value = (
            literal.replace("''", "'") if literal is not None else contexts[context].get(name, "")
        )
        if value:
            return value
    return ""
