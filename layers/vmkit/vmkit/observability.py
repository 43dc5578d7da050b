"""Logging for every function: Powertools' structured JSON, with credentials scrubbed.

Secrets are kept out of log calls by construction (we log ids, never values); the
redaction filter is the second line of defence for anything that slips through,
such as a credential pasted into a field that ends up in an error message.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

_CREDENTIAL = re.compile(
    r"(vmka?_[0-9a-f]{16}_[A-Za-z0-9_-]{20,}|vms_[0-9a-f]{16}_[A-Za-z0-9_-]{20,}"
    r"|gh[pousr]_[A-Za-z0-9]{20,}|sk-ant-[A-Za-z0-9_-]{10,}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----)"
)
SECRET_FIELDS = frozenset(
    {
        "token",
        "api_key",
        "key",
        "secret",
        "password",
        "authorization",
        "cookie",
        "private_key",
        "client_secret",
        "value",
        "agent_token",
        "task_token",
    }
)
REDACTED = "[redacted]"


def redact_text(text: str) -> str:
    return _CREDENTIAL.sub(REDACTED, text)


def redact(value: Any) -> Any:
    """A copy of a structure with secret-named fields and credential-shaped strings masked."""
    if isinstance(value, dict):
        return {
            k: REDACTED if str(k).lower() in SECRET_FIELDS and v else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_text(record.msg)
        elif isinstance(record.msg, dict):
            record.msg = redact(record.msg)
        if record.args:
            record.args = (
                tuple(redact(a) for a in record.args)
                if isinstance(record.args, tuple)
                else redact(record.args)
            )
        return True


logger = Logger(service="vmkit")
logger.addFilter(_RedactingFilter())
# CloudWatch embedded metric format: flushed by `@metrics.log_metrics` on a handler.
metrics = Metrics(namespace="VMKit", service="vmkit")

__all__ = ["MetricUnit", "logger", "metrics", "redact", "redact_text"]
