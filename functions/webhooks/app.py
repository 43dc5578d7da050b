"""GitHub App webhooks at POST /api/webhooks/github (API Gateway HTTP API, payload v2)."""

from vmkit.coldstart import init_phase

with init_phase():
    import json

    from vmkit.deps import get_deps
    from vmkit.errors import VMKitError
    from vmkit.handlers.events import HttpApiEvent
    from vmkit.observability import logger
    from vmkit.services import github_webhooks
    from vmkit.settings import get_settings

    get_settings().require("table_name", "github_webhook_secret_parameter")


@logger.inject_lambda_context(clear_state=True)
def handler(event, context):
    request = HttpApiEvent.model_validate(event)
    headers = request.header_map()
    try:
        result = github_webhooks.handle(get_deps(), headers, request.raw_body())
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
