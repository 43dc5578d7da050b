"""Each function sees only the packages its artifact would hold, as on Lambda.

`sam build` puts a function's `CodeUri` and its `requirements.txt` (resolved) in its
artifact, and each layer's content and requirements under `/opt/python`; nothing
else is importable there. Here every function shares this process and its virtual
environment, which holds every package, so a function that imports what its artifact
lacks (lazily, on a code path tests rarely take) works locally and raises
`ModuleNotFoundError` on AWS.

`PackageGuard` closes that gap: while a function's handler runs (`iam.acting_as`
names it), an absolute import of a top-level module that is neither in the standard
library, nor boto3 (the runtime's own), nor in the function's code or layers, nor in
a distribution its requirements resolve to (through the installed distributions' own metadata: their requirements,
extras and markers) fails with the same `ModuleNotFoundError` Lambda's interpreter
raises. Checked on every `import` statement, so a module another function loaded
first is refused all the same. Only imports made by the function's own code and
packages are checked: the local stack (its IAM check, moto) and pytest run inside
function calls too, and no artifact holds them.
"""

from __future__ import annotations

import builtins
import importlib.metadata as metadata
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from vmkit_local.core.errors import TemplateError
from vmkit_local.core.iam import acting_as
from vmkit_local.core.resources import FunctionSpec

# What Lambda's Python runtime itself provides, whatever the artifact holds.
RUNTIME_PACKAGES = (Requirement("boto3"),)


def _exempt(importer: str, visible: frozenset[str]) -> bool:
    """Code that is not the function's: the standard library's internals (sysconfig's
    build data, say), and what no artifact of it would hold (the local stack, moto,
    pytest's import hooks), which run inside function calls here."""
    top = importer.partition(".")[0]
    return top in sys.stdlib_module_names or top not in visible


# Imported whatever the function: pytest rewrites the asserts of its plugins' packages
# (anyio's), which then import it; botocore decides once per process, at its own
# import, whether awscrt is there, and imports it again later only if it was.
_HARNESS = frozenset({"_pytest", "awscrt"})


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


class Distributions:
    """The installed distributions, by canonical name: top-level modules, requirements."""

    def __init__(self) -> None:
        self._by_name: dict[str, metadata.Distribution] = {}
        self._top_level: dict[str, frozenset[str]] = {}
        for dist in metadata.distributions():
            self._by_name.setdefault(_canonical(dist.metadata["Name"]), dist)

    def top_level(self, name: str) -> frozenset[str]:
        if name not in self._top_level:
            self._top_level[name] = self._read_top_level(self._by_name[name])
        return self._top_level[name]

    @staticmethod
    def _read_top_level(dist: metadata.Distribution) -> frozenset[str]:
        """From its RECORD: what a distribution puts at the top of site-packages."""
        names = set()
        for file in dist.files or ():
            first = file.parts[0]
            if first in ("..", "__pycache__") or first.endswith((".dist-info", ".egg-info")):
                continue
            if len(file.parts) > 1:
                names.add(first)
            elif first.endswith((".py", ".so", ".pyd")):
                names.add(first.split(".", 1)[0])
        return frozenset(names)

    def closure(self, requirements: Iterable[Requirement], where: str) -> set[str]:
        """Every distribution the requirements resolve to, extras included."""
        seen: set[str] = set()
        pending = [(req, frozenset(req.extras)) for req in requirements]
        while pending:
            requirement, extras = pending.pop()
            name = _canonical(requirement.name)
            if name not in self._by_name:
                raise TemplateError(
                    f"{where}: {requirement.name} is not installed here (make setup installs "
                    "what the functions' requirements name)"
                )
            key = f"{name}[{','.join(sorted(extras))}]"
            if key in seen:
                continue
            seen.add(key)
            for line in self._by_name[name].requires or ():
                child = Requirement(line)
                if child.marker is not None and not any(
                    child.marker.evaluate({"extra": extra}) for extra in extras | {""}
                ):
                    continue
                pending.append((child, frozenset(child.extras)))
        return {key.split("[", 1)[0] for key in seen}


def read_requirements(path: Path) -> list[Requirement]:
    if not path.exists():
        return []
    requirements = []
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            requirements.append(Requirement(line))
        except InvalidRequirement as exc:
            raise TemplateError(f"{path}:{number}: {exc}") from exc
    return requirements


def top_level_modules(directory: Path) -> set[str]:
    """The modules and packages a code directory puts on the path (a CodeUri, a layer)."""
    names = {path.stem for path in directory.glob("*.py")}
    names |= {path.parent.name for path in directory.glob("*/__init__.py")}
    return names


def visible_modules(spec: FunctionSpec, distributions: Distributions) -> frozenset[str]:
    """The top-level modules a function's artifact (and its layers) can import."""
    names = set(sys.stdlib_module_names) | set(sys.builtin_module_names)
    requirements = list(RUNTIME_PACKAGES)
    for directory in (spec.code_uri, *spec.layer_paths):
        names |= top_level_modules(directory)
        requirements += read_requirements(directory / "requirements.txt")
    for dist in distributions.closure(requirements, spec.logical_id):
        names |= distributions.top_level(dist)
    return frozenset(names)


class PackageGuard:
    """Installed once per stack around `builtins.__import__`; removed when it stops."""

    def __init__(self, visible: Mapping[str, frozenset[str]]):
        self.visible = dict(visible)
        self._original: Any = None
        self._installed: Any = None

    @classmethod
    def for_functions(cls, specs: Iterable[FunctionSpec]) -> PackageGuard:
        distributions = Distributions()
        return cls({spec.logical_id: visible_modules(spec, distributions) for spec in specs})

    def install(self) -> None:
        self._original = builtins.__import__
        self._installed = self._import  # one bound method, so uninstall can recognise it
        builtins.__import__ = self._installed

    def uninstall(self) -> None:
        if self._original is not None and builtins.__import__ is self._installed:
            builtins.__import__ = self._original
        self._original = None

    def _import(self, name, globals=None, locals=None, fromlist=(), level=0):
        function = acting_as.get()
        if function is not None and level == 0:
            visible = self.visible.get(function)
            top = name.partition(".")[0]
            importer = str((globals or {}).get("__name__", ""))
            if (
                visible is not None
                and top not in visible
                and top not in _HARNESS
                and not _exempt(importer, visible)
            ):
                raise ModuleNotFoundError(f"No module named '{top}'", name=top)
        return self._original(name, globals, locals, fromlist, level)
