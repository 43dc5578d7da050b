"""The dashboard on API Gateway (HTTP API): server-rendered pages behind Mangum."""

from vmkit.coldstart import init_phase

with init_phase():
    from mangum import Mangum

    from vmkit.settings import get_settings
    from vmkit.web import create_app

    get_settings().require(
        "table_name", "kms_key_id", "deploy_state_machine_arn", "teardown_state_machine_arn"
    )

    handler = Mangum(create_app(), lifespan="off")
