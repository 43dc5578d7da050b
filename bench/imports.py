"""Cold import time of every Lambda handler in template.yaml, next to `import boto3`.

Each figure is the fastest of several fresh interpreters importing the handler module
(which, for the REST function, also builds the FastAPI app: that is part of a cold
start too). `import boto3` is measured in the same rounds, so the ratio holds on any
machine: each round imports the baseline and every handler once, in turn, so a busy
spell on a shared machine slows all of them alike rather than one row. The minimum,
not the median, because the work is deterministic and everything else a machine does
only ever adds to it (the reasoning of `timeit`).

Each probe gets what Lambda gives the function, as the local stack reads the
template: its code folder, then its layers' folders (`/opt/python` on Lambda), and
the environment the template sets.

Two columns, because this virtual environment holds more than any artifact:
- "here": every installed package is importable, to the function and to the baseline
  alike. botocore loads pyOpenSSL and awscrt when they are installed (aws-sam-cli
  brings them here), which adds about 50 ms to `import boto3` and to every handler.
- "artifact": each probe can import only what its artifact would hold (the local
  stack's package sets: stdlib, its code, layers and requirements); the baseline only
  the standard library and boto3's own requirements, as in Lambda's runtime. Optional
  imports of anything else fail as they would on Lambda (the MCP SDK's of `rich`).
  These are the absolute times to expect on AWS, CPU speed aside.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.template import ROOT
from vmkit_local.core.packages import RUNTIME_PACKAGES, Distributions, visible_modules
from vmkit_local.core.stackspec import StackSpec

RUNS = 7
# The template's parameters that default to empty but that handlers require at import.
PARAMETERS = {"GitHubAppId": "1"}
_PROBE = """
import sys, time
VISIBLE = {visible!r}

class OutsideArtifact:
    def find_spec(self, name, path=None, target=None):
        # A top-level module the artifact lacks (sysconfig's build data is the runtime's).
        if path is None and name not in VISIBLE and not name.startswith("_sysconfigdata"):
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

if VISIBLE is not None:
    sys.meta_path.insert(0, OutsideArtifact())
sys.path[0:0] = {paths!r}
t = time.perf_counter()
import {module}
print(time.perf_counter() - t)
"""
_LAMBDA_ENV = {
    "AWS_DEFAULT_REGION": "eu-central-1",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",  # what Lambda sets (vmkit.coldstart reads it)
}


@dataclass(frozen=True)
class Probe:
    """A handler module as its execution environment imports it."""

    module: str
    artifact: frozenset[str]  # the top-level modules its artifact lets it import
    paths: tuple[Path, ...] = ()
    environment: tuple[tuple[str, str], ...] = ()


def cold_import_seconds(probe: Probe, *, artifact_only: bool) -> float:
    """One fresh interpreter's time to import the probe's module."""
    code = _PROBE.format(
        visible=set(probe.artifact) if artifact_only else None,
        paths=[str(path) for path in probe.paths],
        module=probe.module,
    )
    env = {**os.environ, **dict(probe.environment), **_LAMBDA_ENV}
    run = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT
    )
    if run.returncode != 0:
        raise RuntimeError(f"importing {probe.module} from {probe.paths} failed:\n{run.stderr}")
    return float(run.stdout)


def baseline(distributions: Distributions) -> Probe:
    """`import boto3`; its artifact is the runtime's: the standard library and boto3."""
    visible = set(sys.stdlib_module_names) | set(sys.builtin_module_names)
    for dist in distributions.closure(RUNTIME_PACKAGES, "the runtime"):
        visible |= distributions.top_level(dist)
    return Probe("boto3", frozenset(visible))


def probes(distributions: Distributions) -> dict[str, Probe]:
    """One probe per distinct handler module, named by the functions that share it."""
    sharing: dict[tuple[Path, str], list[str]] = {}
    found: dict[tuple[Path, str], Probe] = {}
    for spec in StackSpec(
        ROOT / "template.yaml",
        stack_name="vmkit",
        region="eu-central-1",
        parameter_overrides=PARAMETERS,
    ).functions():
        key = (spec.code_uri, spec.handler.rsplit(".", 1)[0])
        sharing.setdefault(key, []).append(spec.logical_id)
        found.setdefault(
            key,
            Probe(
                module=key[1],
                artifact=visible_modules(spec, distributions),
                paths=(spec.code_uri, *spec.layer_paths),
                environment=tuple(spec.environment.items()),
            ),
        )
    return {_label(sharing[key]): probe for key, probe in found.items()}


def _label(functions: list[str]) -> str:
    return functions[0] if len(functions) == 1 else f"{functions[0]} (+{len(functions) - 1})"


def main() -> dict[str, tuple[float, float]]:
    distributions = Distributions()
    rows = {"import boto3": baseline(distributions)}
    rows.update(sorted(probes(distributions).items()))
    samples: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in rows}
    for _ in range(RUNS):
        for name, probe in rows.items():
            here, artifact = samples[name]
            here.append(cold_import_seconds(probe, artifact_only=False))
            artifact.append(cold_import_seconds(probe, artifact_only=True))
    figures = {name: (min(here), min(artifact)) for name, (here, artifact) in samples.items()}
    print(f"cold import (fastest of {RUNS} fresh interpreters)   here          artifact")
    for name, seconds in figures.items():
        _row(name, seconds, figures["import boto3"])
    return figures


def _row(name: str, seconds: tuple[float, float], boto3: tuple[float, float]) -> None:
    cells = "".join(
        f"{value * 1000:7.1f} ms {value / base:4.2f}x"
        for value, base in zip(seconds, boto3, strict=True)
    )
    print(f"  {name:<42}{cells}")
