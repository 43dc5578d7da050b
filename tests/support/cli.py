"""Running the real `vmkit` executable as a person would, and checking what it prints.

The command runs as a subprocess with a clean environment (no AWS variables, a
temporary HOME), from a project directory whose `.vmkit/local.json` names the stack
under test, so nothing reaches it but what the CLI finds by itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

VMKIT = Path(sys.executable).parent / "vmkit"


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    @property
    def error_line(self) -> str:
        """The one line an error must be: checked to be one, and never a traceback."""
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, f"expected one line on stderr, got:\n{self.err}"
        assert lines[0].startswith("error: "), lines[0]
        return lines[0]


@dataclass
class Cli:
    cwd: Path
    home: Path

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "PATH": os.environ["PATH"],
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            **extra,
        }

    def __call__(self, *args: str, input: str | None = None, **env: str) -> Result:
        done = subprocess.run(
            [str(VMKIT), *args],
            cwd=self.cwd,
            env=self.env(**env),
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "Traceback" not in done.stderr, done.stderr
        return Result(done.returncode, done.stdout, done.stderr)

    def start(self, *args: str, **env: str) -> Running:
        process = subprocess.Popen(
            [str(VMKIT), *args],
            cwd=self.cwd,
            env=self.env(**env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        return Running(process)


@dataclass
class Running:
    """A command still running: its output so far, read as it comes."""

    process: subprocess.Popen
    lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for_line(self, predicate: Callable[[str], bool], timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if predicate(line):
                    return line
            if self.process.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError("no such line; output so far:\n" + "\n".join(self.lines))

    def finish(self, timeout: float = 120) -> Result:
        self.process.wait(timeout=timeout)
        self._reader.join(timeout=10)
        assert self.process.stderr is not None
        err = self.process.stderr.read()
        assert "Traceback" not in err, err
        return Result(self.process.returncode, "\n".join(self.lines), err)


class Schemas:
    """The API's own OpenAPI schemas, to check `--json` output against."""

    def __init__(self, openapi: dict[str, Any]):
        resource = Resource.from_contents(openapi, default_specification=DRAFT202012)
        self.registry = Registry().with_resource("urn:vmkit:openapi", resource)
        self.names = set(openapi["components"]["schemas"])

    def check(self, instance: Any, name: str) -> Any:
        assert name in self.names, f"no schema {name} in the API's OpenAPI document"
        Draft202012Validator(
            {"$ref": f"urn:vmkit:openapi#/components/schemas/{name}"}, registry=self.registry
        ).validate(instance)
        return instance
