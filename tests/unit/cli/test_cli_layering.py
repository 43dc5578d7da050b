"""Where the CLI sits: outside the Lambda layer, and over REST for everything people do."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.template import ROOT

LAYER = ROOT / "layers" / "vmkit" / "vmkit"
CLI = ROOT / "cli" / "vmkit_cli"
# Operator commands act on a stack directly (bootstrap comes before any key exists).
OPERATOR = CLI / "commands" / "operator.py"


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _offenders(root: Path, forbidden: tuple[str, ...], skip: set[Path] = frozenset()) -> list[str]:
    return sorted(
        f"{path.relative_to(ROOT)} imports {name}"
        for path in root.rglob("*.py")
        if path not in skip
        for name in _imports(path)
        if any(name == f or name.startswith(f"{f}.") for f in forbidden)
    )


def test_the_lambda_layer_never_imports_the_cli_the_local_stack_or_the_agent():
    assert _offenders(LAYER, ("vmkit_cli", "vmkit_local", "vmkit_agent")) == []


def test_commands_for_people_reach_vmkit_only_through_its_rest_api():
    # Shared models (vmkit.schemas, vmkit.models) are fine; the domain's services are not.
    forbidden = ("vmkit.services", "vmkit.deps", "vmkit.store", "vmkit.adapters", "vmkit_local")
    assert _offenders(CLI, forbidden, skip={OPERATOR}) == []
