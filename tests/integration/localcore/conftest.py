"""One local stack for the local stack's own integration tests, from the fixture template.

It runs as a child process, so it never meets another stack living in a test process
(tests/e2e's, say) in the same pytest worker.
"""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from vmkit_local.testing import StackProcess, stack_process_fixture

FIXTURES = Path(__file__).parents[2] / "fixtures" / "localcore"
STACK_SETTINGS = {
    "apps": {"rest": "fixture_rest_app:app"},
    "api_apps": {"HttpApi": "rest"},
    "parameter_overrides": {"ExternalApiUrl": "{local.rest_url}/external", "LogLevel": "DEBUG"},
    "secret_values": {"vmkit-local/github-webhook-secret": "{local.github_webhook_secret}"},
    "services": "fixture_hooks:services",
    "on_ready": "fixture_hooks:on_ready",
}

local_stack = stack_process_fixture(
    template=FIXTURES / "template.yaml", python_path=[FIXTURES / "apps"], **STACK_SETTINGS
)


@pytest.fixture(autouse=True)
def _no_stack_process_left():
    """A test that fails between starting a stack process and stopping it leaves none."""
    before = StackProcess.running()
    yield
    StackProcess.kill_leftovers(keep=before)


@pytest.fixture
def aws(local_stack):
    """boto3 clients for the stack, by service name."""
    return local_stack.client


@pytest.fixture
def table(local_stack):
    return boto3.resource(
        "dynamodb",
        endpoint_url=local_stack.aws_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).Table("vmkit-local-Table")
