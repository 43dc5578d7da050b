"""Every few minutes: fail overdue deploys, reconcile lost webhooks, notice silent agents."""

from vmkit.deps import get_deps
from vmkit.observability import logger
from vmkit.services import reconcile


@logger.inject_lambda_context(clear_state=True)
def handler(event, context):
    result = reconcile.sweep(get_deps())
    logger.info("swept", extra=result)
    return result
