"""Workflow files as `workflow_dispatch` reads them: trigger, inputs and `run-name`.

Input checks and their messages are GitHub's (unexpected inputs, required inputs,
choices, booleans, numbers). Expressions in `run-name` may use the `inputs` and
`github` contexts by dotted path (`${{ inputs.deploy_id }}`,
`${{ github.event.inputs.env }}`, `${{ github.actor }}`); anything fancier is refused
loudly rather than rendered wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

MAX_INPUTS = 25
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*$")


class WorkflowProblem(Exception):
    """The dispatch cannot run this workflow; the message is GitHub's answer."""


@dataclass(frozen=True)
class Workflow:
    path: str
    name: str
    run_name: str | None
    dispatch_inputs: dict[str, dict[str, Any]] | None
    """The `on.workflow_dispatch.inputs`; None when the workflow has no such trigger."""
    definition: dict[str, Any]


def parse_workflow(path: str, text: bytes) -> Workflow:
    try:
        definition = yaml.safe_load(text)
    except yaml.YAMLError:
        raise WorkflowProblem(f"Invalid workflow file: {path}") from None
    if not isinstance(definition, dict):
        raise WorkflowProblem(f"Invalid workflow file: {path}")
    # YAML 1.1 reads the key `on` as the boolean True.
    triggers = definition.get("on", definition.get(True))
    return Workflow(
        path=path,
        name=str(definition.get("name") or path),
        run_name=definition.get("run-name"),
        dispatch_inputs=_dispatch_inputs(triggers),
        definition={("on" if key is True else key): value for key, value in definition.items()},
    )


def _dispatch_inputs(triggers: Any) -> dict[str, dict[str, Any]] | None:
    if triggers == "workflow_dispatch" or (
        isinstance(triggers, list) and "workflow_dispatch" in triggers
    ):
        return {}
    if isinstance(triggers, dict) and "workflow_dispatch" in triggers:
        config = triggers["workflow_dispatch"] or {}
        inputs = config.get("inputs") or {}
        return {name: spec or {} for name, spec in inputs.items()}
    return None


def resolve_inputs(workflow: Workflow, given: dict[str, Any]) -> dict[str, Any]:
    """The run's `inputs` context: given values and defaults, typed as declared."""
    spec = workflow.dispatch_inputs or {}
    unexpected = [name for name in given if name not in spec]
    if unexpected:
        raise WorkflowProblem(f"Unexpected inputs provided: {_json_list(unexpected)}")
    resolved: dict[str, Any] = {}
    for name, declared in spec.items():
        value = given.get(name, declared.get("default"))
        if value is None:
            if declared.get("required"):
                raise WorkflowProblem(f"Required input '{name}' not provided")
            value = False if declared.get("type") == "boolean" else ""
        resolved[name] = _typed(name, declared, value)
    return resolved


def _typed(name: str, declared: dict[str, Any], value: Any) -> Any:
    kind = declared.get("type", "string")
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if kind == "boolean":
        if text not in ("true", "false"):
            raise WorkflowProblem(f"Provided value '{text}' for input '{name}' is not a boolean")
        return text == "true"
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            raise WorkflowProblem(
                f"Provided value '{text}' for input '{name}' is not a number"
            ) from None
        return int(number) if number.is_integer() else number
    if kind == "choice" and text not in [str(option) for option in declared.get("options", [])]:
        raise WorkflowProblem(
            f"Provided value '{text}' for input '{name}' not in the list of allowed values"
        )
    return text


def render(template: str, contexts: dict[str, Any]) -> str:
    """Substitute `${{ path }}` expressions; unknown paths render empty, as on GitHub."""

    def substitute(match: re.Match[str]) -> str:
        expression = match.group(1)
        if not _DOTTED.match(expression):
            raise WorkflowProblem(
                f"The local GitHub simulator only evaluates context paths in run-name, "
                f"not {expression!r}"
            )
        value: Any = contexts
        for part in expression.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, bool):
            return str(value).lower()
        return "" if value is None else str(value)

    return _EXPRESSION.sub(substitute, template)


def _json_list(names: list[str]) -> str:
    return "[" + ", ".join(f'"{name}"' for name in names) + "]"
