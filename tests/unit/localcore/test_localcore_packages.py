"""Each function's handler, and every module it imports lazily, loads from its own
package set: its CodeUri's requirements plus its layers', as `sam build` packages it.

The check runs each import statement (top-level ones of every vmkit module the handler
loads, and every one, nested included, of the adapters the function's code uses) as
that function, under the local stack's package guard, so a module already loaded by
another test is refused all the same if this function's artifact lacks it.
"""

from __future__ import annotations

import ast
import builtins
import importlib.util
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from vmkit_local.core.iam import acting_as
from vmkit_local.core.packages import Distributions, PackageGuard, visible_modules
from vmkit_local.core.resources import FunctionSpec
from vmkit_local.core.stackspec import StackSpec
from vmkit_local.embedded import TEMPLATE

# What each function's code calls through `vmkit.deps` (the adapters, whose SDKs are
# imported lazily) and which lazy domain modules it runs. A function that starts using
# another adapter is added here, and this test then checks its artifact has the SDK.
ADAPTERS = {
    "api": {
        "vmkit.adapters.github_app", "vmkit.adapters.github_files", "vmkit.adapters.hetzner",
        "vmkit.adapters.digitalocean", "vmkit.adapters.agent_channel",
        "vmkit.adapters.artifacts", "vmkit.adapters.stepfunctions", "vmkit.ai.model_generation",
    },
    "mcp": {
        "vmkit.adapters.github_app", "vmkit.adapters.github_files",
        "vmkit.adapters.agent_channel", "vmkit.adapters.artifacts",
        "vmkit.adapters.stepfunctions", "vmkit.ai.model_generation",
    },
    "steps": {
        "vmkit.adapters.github_app", "vmkit.adapters.github_files", "vmkit.adapters.hetzner",
        "vmkit.adapters.digitalocean", "vmkit.adapters.cloudflare_dns",
        "vmkit.adapters.agent_channel", "vmkit.adapters.artifacts",
        "vmkit.adapters.stepfunctions", "vmkit.ai.model_generation",
    },
    "scheduled": {
        "vmkit.adapters.github_app", "vmkit.adapters.hetzner", "vmkit.adapters.digitalocean",
        "vmkit.adapters.stepfunctions", "vmkit.adapters.agent_channel",
    },
    "webhooks": {"vmkit.adapters.stepfunctions"},
    "web": {
        "vmkit.adapters.github_app", "vmkit.adapters.hetzner", "vmkit.adapters.digitalocean",
        "vmkit.adapters.agent_channel", "vmkit.adapters.artifacts",
        "vmkit.adapters.stepfunctions",
    },
    "ws": {"vmkit.adapters.stepfunctions", "vmkit.adapters.agent_channel"},
}  # fmt: skip
# Imports in those adapters that are on other functions' paths only.
NOT_ON_PATH = {
    code: {"vmkit.adapters.github_app: import nacl.public"}  # sealing Actions secrets
    for code in ("scheduled", "web")
}


def functions_by_code() -> dict[str, FunctionSpec]:
    """One function per CodeUri: functions sharing one have the same artifact."""
    found: dict[str, FunctionSpec] = {}
    for spec in StackSpec(TEMPLATE).functions():
        found.setdefault(spec.code_uri.name, spec)
    return found


def imports_in(path: Path, module: str, *, nested: bool) -> Iterator[tuple[str, str]]:
    """(importer, absolute module name) of each import statement in a source file."""
    tree = ast.parse(path.read_text(), str(path))
    nodes = ast.walk(tree) if nested else iter(tree.body)
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield module, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield module, node.module


def source_of(module: str) -> Path:
    found = importlib.util.find_spec(module)
    assert found is not None and found.origin, f"{module} is not importable here"
    return Path(found.origin)


def missing_modules(spec: FunctionSpec, guard: PackageGuard, adapters: set[str]) -> dict[str, str]:
    """Import statement → the module the function's artifact lacks, for each that fails."""
    statements = set(imports_in(spec.code_uri / "app.py", "app", nested=False))
    loaded, pending = set(), [name for _, name in statements if name.startswith("vmkit")]
    while pending:  # every vmkit module the handler loads, and their top-level imports
        module = pending.pop()
        if module in loaded or importlib.util.find_spec(module) is None:
            continue
        loaded.add(module)
        found = set(imports_in(source_of(module), module, nested=False))
        statements |= found
        pending += [name for _, name in found if name.startswith("vmkit")]
    for adapter in adapters:
        statements |= set(imports_in(source_of(adapter), adapter, nested=True))
    missing = {}
    token = acting_as.set(spec.logical_id)
    try:
        for importer, name in sorted(statements):
            try:
                builtins.__import__(name, {"__name__": importer}, None, (), 0)
            except ModuleNotFoundError as exc:
                missing[f"{importer}: import {name}"] = str(exc)
    finally:
        acting_as.reset(token)
    return missing


@pytest.fixture
def guarded() -> Iterator[PackageGuard]:
    guard = PackageGuard.for_functions(functions_by_code().values())
    guard.install()
    yield guard
    guard.uninstall()


def test_every_code_uri_is_listed():
    assert set(functions_by_code()) == set(ADAPTERS)


@pytest.mark.parametrize("code", sorted(ADAPTERS))
def test_a_functions_handler_and_its_lazy_imports_load_from_its_own_package_set(code, guarded):
    spec = functions_by_code()[code]
    missing = missing_modules(spec, guarded, ADAPTERS[code])
    assert set(missing) - NOT_ON_PATH.get(code, set()) == set(), missing


def test_a_planted_missing_dependency_fails_as_on_lambda(tmp_path, guarded):
    """The sweeper's artifact as it shipped: no requirements of its own, so githubkit
    (imported lazily to ask GitHub about a run) was absent on AWS."""
    real = functions_by_code()["scheduled"]
    shipped = tmp_path / "scheduled"
    shutil.copytree(real.code_uri, shipped)
    (shipped / "requirements.txt").unlink()
    spec = FunctionSpec(**{**real.__dict__, "code_uri": shipped})
    guarded.visible[spec.logical_id] = visible_modules(spec, Distributions())

    missing = missing_modules(spec, guarded, ADAPTERS["scheduled"])

    assert missing["vmkit.adapters.github_app: import githubkit"] == "No module named 'githubkit'"
    assert missing["vmkit.adapters.hetzner: import hcloud"] == "No module named 'hcloud'"


def test_while_a_function_runs_it_cannot_import_what_another_function_loaded(guarded):
    import fastapi  # noqa: F401 (loaded in this process, as ApiFunction loads it)

    def import_from_handler(name: str) -> None:
        builtins.__import__(name, {"__name__": "app"}, None, (), 0)

    token = acting_as.set(functions_by_code()["ws"].logical_id)
    try:
        with pytest.raises(ModuleNotFoundError, match="No module named 'fastapi'"):
            import_from_handler("fastapi.routing")
        import_from_handler("json")  # the standard library is everywhere
        import_from_handler("vmkit.agentrpc")  # its layer
        import_from_handler("botocore.exceptions")  # the layer's requirements
    finally:
        acting_as.reset(token)
