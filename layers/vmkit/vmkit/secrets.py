"""Operator-managed secrets (GitHub App key, webhook secret, OAuth client, Cloudflare
token, Anthropic key).

They are SSM Parameter Store SecureString parameters, named by template parameters,
read through a Powertools SSM provider, which caches them for a few minutes in the
execution environment (`vmkit.warm`). Not Secrets Manager: none of them uses its rotation, and its $0.40 per
secret and month was two thirds of the stack's idle cost; standard parameters are free.
"""

from __future__ import annotations

import json
from typing import Any

from vmkit import warm
from vmkit.errors import VMKitError

CACHE_SECONDS = 300


class NotConfigured(VMKitError):
    code = "not_configured"
    status = 503


def get_secret(name: str, what: str) -> str:
    if not name:
        raise NotConfigured(f"{what} is not configured for this VMKit installation")
    from aws_lambda_powertools.utilities import parameters
    from botocore.exceptions import ClientError

    provider = warm.kept("ssm", _ssm_provider)
    try:
        value = provider.get(name, decrypt=True, max_age=CACHE_SECONDS)
    except parameters.exceptions.GetParameterError as exc:
        cause = exc.__cause__ or exc.__context__  # Powertools re-raises without `from`
        if (
            isinstance(cause, ClientError)
            and cause.response["Error"]["Code"] == "ParameterNotFound"
        ):
            raise NotConfigured(f"{what} is not configured: no parameter named {name}") from exc
        raise
    return value.decode() if isinstance(value, bytes) else str(value)


def _ssm_provider() -> Any:
    """Over a client of boto3's default session, as every client VMKit makes (Powertools
    would start a session of its own, which the local stack's IAM check cannot see)."""
    import boto3
    from aws_lambda_powertools.utilities import parameters

    return parameters.SSMProvider(boto3_client=boto3.client("ssm"))


def get_secret_json(name: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(get_secret(name, what))
    except json.JSONDecodeError as exc:
        raise NotConfigured(f"{what} must be stored as a JSON object") from exc
    if not isinstance(data, dict):
        raise NotConfigured(f"{what} must be stored as a JSON object")
    return data
