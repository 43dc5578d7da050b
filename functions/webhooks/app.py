"""GitHub App webhooks at POST /api/webhooks/github (API Gateway HTTP API, payload v2)."""

import base64
import json

from vmkit.deps import get_deps
from vmkit.errors import VMKitError
from vmkit.observability import logger
from vmkit.services import github_webhooks


@logger.inject_lambda_context(clear_state=True)
def handler(event, context):
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    raw = event.get("body") or ""
    body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode()
    try:
        result = github_webhooks.handle(get_deps(), headers, body)
    except VMKitError as exc:
        return _response(exc.status, {"error": exc.to_dict()})
    logger.info("webhook handled", extra={"delivery": headers.get("x-github-delivery"), **result})
    return _response(200, result)


def _response(status, body):
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
    }
