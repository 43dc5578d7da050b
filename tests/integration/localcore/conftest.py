"""One local stack for the local stack's own integration tests, built from the fixture template."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from vmkit_local.asgi import AppSpec
from vmkit_local.testing import stack_fixture
from vmkit_local.websocket import GatewayLimits

FIXTURES = Path(__file__).parents[2] / "fixtures" / "localcore"
sys.path.insert(0, str(FIXTURES / "apps"))  # so the app is importable by its import string


class RecordingService:
    """An extra service that only records that the stack started and stopped it."""

    name = "recorder"
    events: list[str] = []

    def start(self, stack):
        RecordingService.events.append(f"start:{bool(stack.runtime)}")
        return {"apps_url": "http://apps.localhost:9"}

    def stop(self):
        RecordingService.events.append("stop")


local_stack = stack_fixture(
    template=FIXTURES / "template.yaml",
    apps={"rest": AppSpec("fixture_rest_app:app")},
    api_apps={"HttpApi": "rest"},
    parameter_overrides={"ExternalApiUrl": "{local.rest_url}/external", "LogLevel": "DEBUG"},
    secret_values={"vmkit-local/github-webhook-secret": "{local.github_webhook_secret}"},
    services=lambda: [RecordingService()],
    on_ready=lambda stack: {"api_key": "vmk_fixture_bootstrap"},
    limits=GatewayLimits(integration_timeout_s=5),
)


@pytest.fixture
def aws(local_stack):
    """boto3 clients for the stack, by service name."""
    return local_stack.client


@pytest.fixture
def table(local_stack):
    import boto3

    return boto3.resource(
        "dynamodb",
        endpoint_url=local_stack.aws_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).Table("vmkit-local-Table")
