"""template.yaml is valid by the tools operators will run, least-privilege, and builds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.template import ROOT, template
from vmkit.store.keys import LOOKUP, PARENT, SWEEP

BIN = Path(sys.executable).parent
ENV = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
# Actions IAM's reference defines no resource type for: a policy grants them on "*".
RESOURCELESS = {"states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"}
DATA_SERVICES = ("dynamodb", "kms", "secretsmanager", "states", "s3", "ssm", "execute-api")


def _run(*args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_cfn_lint_passes_with_no_warnings():
    result = _run(str(BIN / "cfn-lint"), "template.yaml")
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_sam_validate_lint_passes():
    result = _run(str(BIN / "sam"), "validate", "--lint", "--template", "template.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_checkov_finds_nothing_beyond_the_skips_it_gives_reasons_for():
    """.checkov.yaml lists each skipped check with its reason; anything else fails."""
    checkov = ROOT / "tools" / ".checkov" / "bin" / "checkov"
    args = ("-f", "template.yaml", "--config-file", ".checkov.yaml", "--skip-download")
    result = _run(str(checkov), *args, "-o", "json", timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads(result.stdout)["summary"]
    assert summary["failed"] == 0 and summary["passed"] > 50, summary


def _function_statements():
    for name, resource in template()["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for policy in resource["Properties"].get("Policies", []):
            if isinstance(policy, dict) and "Statement" in policy:
                for statement in policy["Statement"]:
                    yield name, statement


def test_function_policies_grant_no_wildcard_actions_on_data():
    statements = list(_function_statements())
    assert statements
    for function, statement in statements:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        for action in actions:
            assert action != "*", function
            service, verb = action.split(":", 1)
            if service in DATA_SERVICES:
                assert "*" not in verb, f"{function} grants {action}"
        if statement["Resource"] == "*":  # only actions IAM defines no resource for
            assert set(actions) <= RESOURCELESS, (
                f"{function}: {statement.get('Sid')} on every resource"
            )


def test_table_is_on_demand_recoverable_encrypted_with_ttl_and_the_store_indexes():
    props = template()["Resources"]["Table"]["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert {i["IndexName"] for i in props["GlobalSecondaryIndexes"]} == {LOOKUP, PARENT, SWEEP}


def test_kms_key_rotates_and_use_requires_an_encryption_context():
    key = template()["Resources"]["Key"]["Properties"]
    assert key["EnableKeyRotation"] is True
    use = [s for s in key["KeyPolicy"]["Statement"] if "kms:Decrypt" in s["Action"]]
    assert use and all("Condition" in s for s in use)


def test_functions_pin_the_layers_shared_packages_to_the_same_versions():
    def pins(path: Path) -> dict[str, str]:
        out = {}
        for line in path.read_text().splitlines():
            line = line.split("#")[0].strip()
            if "==" in line:
                name, version = line.split("==")
                out[name.lower()] = version.strip()
        return out

    layer = pins(ROOT / "layers/vmkit/requirements.txt")
    for requirements in (ROOT / "functions").glob("*/requirements.txt"):
        for name, version in pins(requirements).items():
            if name in layer:
                assert version == layer[name], (
                    f"{requirements}: {name}=={version}, layer has {layer[name]}"
                )


@pytest.mark.timeout(600)
def test_sam_build_builds_the_layer_and_functions_for_arm64(tmp_path):
    result = _run(
        str(BIN / "sam"),
        "build",
        "--template",
        "template.yaml",
        "--build-dir",
        str(tmp_path / "b"),
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    layer = tmp_path / "b" / "VmkitLayer" / "python"
    assert (layer / "vmkit" / "store" / "store.py").exists()
    assert list((layer / "pydantic_core").glob("*aarch64*.so")), (
        "pydantic_core must be built for arm64"
    )
    assert (tmp_path / "b" / "ApiFunction" / "app.py").exists()


@pytest.mark.parametrize("machine", ["DeployStateMachine", "TeardownStateMachine"])
def test_state_machines_pass_asl_validator(machine, tmp_path):
    """Each state machine, its substitutions filled as CloudFormation would, is valid ASL."""
    props = template()["Resources"][machine]["Properties"]
    definition = (ROOT / props["DefinitionUri"]).read_text()
    for key in props["DefinitionSubstitutions"]:
        definition = definition.replace(
            "${" + key + "}", f"arn:aws:lambda:eu-central-1:123456789012:function:{key}"
        )
    assert "${" not in definition
    path = tmp_path / "machine.json"
    path.write_text(definition)
    result = _run(str(ROOT / "tools/node_modules/.bin/asl-validator"), "--json-path", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    states = json.loads(definition)["States"]
    for name, state in states.items():
        if state["Type"] == "Task":
            assert "TimeoutSeconds" in state or "TimeoutSecondsPath" in state, name
            assert state.get("Retry"), name
            assert name == "MarkFailed" or state.get("Catch"), name
