"""The MCP function as deployed: its template resources, its package, its cold start."""

from __future__ import annotations

import re

from tests.support.modules import imported_at_cold_start
from tests.support.template import ROOT, template
from vmkit.mcp.server import MCP_PATH


def _mcp_function() -> dict:
    return template()["Resources"]["McpFunction"]["Properties"]


def test_the_function_is_public_on_a_url_and_authenticates_itself():
    props = _mcp_function()
    assert props["Handler"] == "app.handler" and props["CodeUri"] == "functions/mcp/"
    assert props["FunctionUrlConfig"] == {"AuthType": "NONE", "InvokeMode": "BUFFERED"}
    assert "Layers" not in props  # only the vmkit layer (Globals): no Web Adapter
    output = template()["Outputs"]["McpUrl"]["Value"]
    assert output == {"Fn::Sub": "${McpFunctionUrl.FunctionUrl}" + MCP_PATH.lstrip("/")}


def test_the_function_may_seal_but_never_open_credentials():
    actions = [
        action
        for policy in _mcp_function()["Policies"]
        if "Statement" in policy
        for statement in policy["Statement"]
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    ]
    assert "kms:GenerateDataKey" in actions
    assert "kms:Decrypt" not in actions


def test_sam_grants_both_permissions_a_public_function_url_needs(monkeypatch):
    """Since October 2025 a function URL needs lambda:InvokeFunction as well as
    lambda:InvokeFunctionUrl; SAM's translation must create both."""
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    # Local paths become S3 locations when `sam package` runs; stand those in.
    source = re.sub(
        r"(CodeUri|ContentUri|DefinitionUri): \S+",
        r"\1: s3://bucket/key",
        (ROOT / "template.yaml").read_text(),
    )

    class NoManagedPolicies:
        def load(self) -> dict:
            return {}

    resources = transform(yaml_parse(source), {}, NoManagedPolicies())["Resources"]
    permissions = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Permission"
        and r["Properties"]["FunctionName"] == {"Ref": "McpFunction"}
    ]
    assert {"Action": "lambda:InvokeFunctionUrl", "FunctionUrlAuthType": "NONE"}.items() <= next(
        p for p in permissions if p["Action"] == "lambda:InvokeFunctionUrl"
    ).items()
    assert (
        next(p for p in permissions if p["Action"] == "lambda:InvokeFunction")[
            "InvokedViaFunctionUrl"
        ]
        is True
    )


def test_the_package_pins_the_sdk_the_tests_use():
    requirements = (ROOT / "functions/mcp/requirements.txt").read_text()
    pyproject = (ROOT / "pyproject.toml").read_text()
    for pin in ("mcp==2.3.0", "mangum==0.22.0"):
        assert pin in requirements and f'"{pin}"' in pyproject


def test_a_cold_start_imports_no_sdk_a_tool_does_not_need_yet():
    """anthropic, githubkit, the cloud SDKs and the onboarding generators load only inside
    the tools that use them (tools declare `vmkit.ai.scan_result` types, nothing more)."""
    sdks = ("anthropic", "githubkit", "hcloud", "pydo", "cloudflare")
    generators = ("vmkit.ai.repo_scanner", "vmkit.ai.onboarding")
    assert imported_at_cold_start("mcp", sdks + generators) == []
