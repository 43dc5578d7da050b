"""The agents' WebSocket API: REQUEST authorizer, $connect, $disconnect, $default."""

from vmkit.coldstart import init_phase

with init_phase():
    from vmkit import agentrpc
    from vmkit.deps import get_deps
    from vmkit.handlers.events import (
        AgentAuthorizerContext,
        WebSocketAuthorizerEvent,
        WebSocketEvent,
    )
    from vmkit.observability import logger
    from vmkit.services import agents
    from vmkit.settings import get_settings

    get_settings().require("table_name")


def authorizer(event, context):
    """Allow the upgrade only for a valid agent token; the instance rides in the context."""
    request = WebSocketAuthorizerEvent.model_validate(event)
    login = agents.authenticate(get_deps(), request.header("authorization"))
    instance = login.instance if login else None
    return {
        "principalId": instance.id if instance else "anonymous",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Allow" if instance else "Deny",
                    "Resource": request.method_arn,
                }
            ],
        },
        "context": {
            "instance_id": instance.id,
            "workspace_id": instance.workspace_id,
            "rotated_token": login.rotated,
        }
        if login and instance
        else {},
    }


def connect(event, context):
    request = WebSocketEvent.model_validate(event)
    agent = AgentAuthorizerContext.model_validate(request.request_context.authorizer or {})
    deps = get_deps()
    if agent.rotated_token:
        agents.adopt_rotated_token(deps, agent.workspace_id, agent.instance_id)
    agentrpc.remember_connection(
        deps,
        request.connection_id,
        instance_id=agent.instance_id,
        workspace_id=agent.workspace_id,
    )
    return {"statusCode": 200}


def disconnect(event, context):
    agentrpc.forget_connection(get_deps(), WebSocketEvent.model_validate(event).connection_id)
    return {"statusCode": 200}


def default(event, context):
    request = WebSocketEvent.model_validate(event)
    agentrpc.receive(get_deps(), request.connection_id, request.text())
    logger.debug("agent message", extra={"connection_id": request.connection_id})
    return {"statusCode": 200}
