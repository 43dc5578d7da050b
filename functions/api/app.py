"""REST API on API Gateway (HTTP API): the FastAPI app behind Mangum."""

from vmkit.coldstart import init_phase

with init_phase():
    from mangum import Mangum

    from vmkit.rest import create_app
    from vmkit.settings import get_settings

    get_settings().require(
        "table_name", "kms_key_id", "deploy_state_machine_arn", "teardown_state_machine_arn"
    )

    handler = Mangum(create_app(), lifespan="off")
