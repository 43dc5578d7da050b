"""schemathesis against the app's own OpenAPI, in-process: no 5xx, no off-schema response.

Schemathesis' "positive data acceptance" check is left out: a schema-valid but
unknown cursor is rightly a 422, and OpenAPI cannot say which opaque cursors exist.
"""

from __future__ import annotations

import json

import boto3
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from tests.support.api import make_world

EXAMPLES_PER_OPERATION = 25


def test_no_operation_breaks_its_schema_or_errors(tenant, configure):
    # Sign-in and the App configured (GitHub at a closed port), and some data to find.
    ssm = boto3.client("ssm")
    ssm.put_parameter(
        Name="/vmkit/github-oauth",
        Value=json.dumps({"client_id": "Iv1.x", "client_secret": "y"}),
        Type="SecureString",
    )
    ssm.put_parameter(Name="/vmkit/github-webhook", Value="webhook-secret", Type="SecureString")
    configure(
        GITHUB_OAUTH_PARAMETER="/vmkit/github-oauth",
        GITHUB_WEBHOOK_SECRET_PARAMETER="/vmkit/github-webhook",
        GITHUB_APP_SLUG="vmkit-test",
        GITHUB_API_URL="http://127.0.0.1:9",
    )
    make_world(tenant)
    schema = schemathesis.openapi.from_asgi("/openapi.json", tenant.client.app)
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            suppress_health_check=list(HealthCheck),
            deadline=None,
            database=None,
        )
        def exercise(case):
            case.call_and_validate(
                headers={"Authorization": f"Bearer {tenant.key}"},
                excluded_checks=[positive_data_acceptance],
            )

        try:
            exercise()
        except BaseException as failure:  # schemathesis raises an exception group
            failures[operation.label] = str(failure)[:2000]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
