"""Cold import time of every Lambda handler in template.yaml, next to `import boto3`.

Each figure is the median of several fresh interpreters importing the handler module
(which, for the REST function, also builds the FastAPI app: that is part of a cold
start too). `import boto3` is measured in the same run, so the ratio holds on any
machine.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

from tests.support.template import ROOT, template

RUNS = 7
_PROBE = """
import sys, time
sys.path.insert(0, {path!r})
t = time.perf_counter()
import {module}
print(time.perf_counter() - t)
"""
_ENV = {
    **os.environ,
    "AWS_DEFAULT_REGION": "eu-central-1",
    "TABLE_NAME": "bench",
    "KMS_KEY_ID": "alias/bench",
    "POWERTOOLS_SERVICE_NAME": "vmkit",
    # What the handlers require at import (Settings.require); nothing is called.
    "DEPLOY_STATE_MACHINE_ARN": "arn:aws:states:eu-central-1:123456789012:stateMachine:b-deploy",
    "TEARDOWN_STATE_MACHINE_ARN": "arn:aws:states:eu-central-1:123456789012:stateMachine:b-down",
    "GITHUB_APP_ID": "1",
    "GITHUB_APP_KEY_PARAMETER": "/vmkit/github-app-private-key",
    "GITHUB_WEBHOOK_SECRET_PARAMETER": "/vmkit/github-webhook-secret",
}


def cold_import_seconds(module: str, path: Path | str = "") -> float:
    code = _PROBE.format(path=str(path), module=module)
    samples = [
        float(
            subprocess.run(
                [sys.executable, "-c", code],
                env=_ENV,
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            ).stdout
        )
        for _ in range(RUNS)
    ]
    return statistics.median(samples)


def handlers() -> dict[str, tuple[Path, str]]:
    found = {}
    for name, resource in template()["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            props = resource["Properties"]
            module = props["Handler"].rsplit(".", 1)[0]
            found[name] = (ROOT / props["CodeUri"], module)
    return found


def main() -> dict[str, float]:
    boto3_s = cold_import_seconds("boto3")
    print(f"cold import (median of {RUNS} fresh interpreters)")
    print(f"  {'import boto3':<28} {boto3_s * 1000:7.1f} ms   1.00x")
    figures = {"boto3": boto3_s}
    for name, (path, module) in sorted(handlers().items()):
        seconds = cold_import_seconds(module, path)
        figures[name] = seconds
        print(f"  {name:<28} {seconds * 1000:7.1f} ms   {seconds / boto3_s:4.2f}x")
    return figures
