"""MCP server on a Lambda function URL (`vmkit.mcp.lambda_adapter` says why it owns the lifespan).

No host is allowed up front: the handler allows the function URL's own host, which
AWS names in every event; no browser origin is allowed.
"""

from vmkit.coldstart import init_phase

with init_phase():
    from vmkit.mcp import create_mcp_app
    from vmkit.mcp.lambda_adapter import FunctionUrlHandler
    from vmkit.settings import get_settings

    get_settings().require(
        "table_name", "kms_key_id", "deploy_state_machine_arn", "teardown_state_machine_arn"
    )

    handler = FunctionUrlHandler(create_mcp_app(allowed_hosts=(), allowed_origins=()))
