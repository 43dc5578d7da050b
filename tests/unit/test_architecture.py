"""Imports run one way: interfaces → services → composition root → adapters → domain.

Every module of the `vmkit` layer and every function handler is read (with `ast`, so
lazy imports inside functions count too) and each import is checked against the
layer ranks below: a module may import its own rank or a lower one, never a higher
one. The layer must never import the local stack (`vmkit_local`) or the VM agent
(`vmkit_agent`): neither is in the Lambda artifact.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "vmkit"
FUNCTIONS = ROOT / "functions"

# Rank by module prefix; the longest matching prefix wins.
RANKS = {
    # 0 the domain: records, errors, ids, public shapes, settings, ports (the contracts)
    "vmkit": 0,
    # 1 adapters: DynamoDB, KMS, Secrets Manager, the SDK adapters
    "vmkit.adapters": 1,
    "vmkit.store": 1,
    "vmkit.crypto": 1,
    "vmkit.credentials": 1,
    "vmkit.secrets": 1,
    # 2 the composition root that builds the adapters for the ports
    "vmkit.deps": 2,
    # 3 services: the use cases
    "vmkit.services": 3,
    "vmkit.agentrpc": 3,
    "vmkit.auth": 3,
    "vmkit.ai": 3,
    "vmkit.ai.repo_files": 1,  # reading files: the RepoFiles port and a local checkout
    # 4 interfaces: REST, MCP, the event handlers, the Lambda entry points
    "vmkit.rest": 4,
    "vmkit.mcp": 4,
    "vmkit.handlers": 4,
    "vmkit.web": 4,
    "functions": 4,
}
NAMES = ["domain", "adapters", "composition root", "services", "interfaces"]
FOREIGN = ("vmkit_local", "vmkit_agent")


def rank(module: str) -> int | None:
    matches = [p for p in RANKS if module == p or module.startswith(p + ".")]
    return RANKS[max(matches, key=len)] if matches else None


def module_name(path: Path, layer: Path) -> str:
    if path.is_relative_to(FUNCTIONS):
        return "functions." + ".".join(path.relative_to(FUNCTIONS).with_suffix("").parts)
    parts = path.relative_to(layer).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[int, list[str]]]:
    """(line, candidates) of every import statement outside `if TYPE_CHECKING:` blocks;
    `from a import b` may import the module `a.b`, so both are candidates."""
    tree = ast.parse(path.read_text())
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only |= {id(child) for child in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, [alias.name]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            found.append((node.lineno, [node.module, *names]))
    return found


def violations(paths: list[Path], layer: Path = LAYER) -> list[str]:
    problems = []
    for path in paths:
        importer = module_name(path, layer)
        own = rank(importer)
        for line, candidates in imports(path):
            where, imported = f"{importer}:{line}", candidates[0]
            if imported.split(".")[0] in FOREIGN:
                problems.append(f"{where} imports {imported} (not in the Lambda artifact)")
                continue
            ranked = [(rank(c), c) for c in candidates if c.split(".")[0] == "vmkit"]
            theirs, module = max(ranked, default=(None, imported))
            if own is not None and theirs is not None and theirs > own:
                problems.append(f"{where} ({NAMES[own]}) imports {module} ({NAMES[theirs]})")
    return problems


def sources() -> list[Path]:
    return sorted((LAYER / "vmkit").rglob("*.py")) + sorted(FUNCTIONS.glob("*/*.py"))


def test_imports_point_only_downward_and_never_to_the_local_stack_or_the_agent():
    assert violations(sources()) == []


@pytest.mark.parametrize(
    ("importer", "code", "expected"),
    [
        ("vmkit/adapters/probe.py", "from vmkit.services import deploys\n", "(adapters) imports"),
        ("vmkit/store/probe.py", "def f():\n    from vmkit.deps import get_deps\n", "(adapters)"),
        ("vmkit/services/probe.py", "from vmkit.rest import deps\n", "(services) imports"),
        ("vmkit/probe.py", "import vmkit_local.embedded\n", "not in the Lambda artifact"),
    ],
)
def test_an_upward_or_foreign_import_is_caught(tmp_path, importer, code, expected):
    path = tmp_path / importer
    path.parent.mkdir(parents=True)
    path.write_text(code)
    (problem,) = violations([path], layer=tmp_path)
    assert expected in problem


def test_a_type_checking_import_is_not_a_dependency(tmp_path):
    path = tmp_path / "probe.py"
    path.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from vmkit.store import Page\n"
    )
    assert all("vmkit.store" not in candidates for _, candidates in imports(path))
