"""Every few minutes: fail overdue deploys, reconcile lost webhooks, notice silent agents."""

from vmkit.coldstart import init_phase

with init_phase():
    from vmkit.deps import get_deps
    from vmkit.handlers.events import ScheduledEvent
    from vmkit.observability import logger, metrics
    from vmkit.services import reconcile
    from vmkit.settings import get_settings

    get_settings().require("table_name", "github_app_id", "github_app_key_parameter")


@logger.inject_lambda_context(clear_state=True)
def handler(event, context):
    fired = ScheduledEvent.model_validate(event)
    result = reconcile.sweep(get_deps())
    logger.info("swept", extra={"scheduled_at": fired.time, **result})
    if result["failed_items"]:  # a sweep with nothing failed publishes no metric
        metrics.flush_metrics()
    return result
