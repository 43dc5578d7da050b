"""The agents' WebSocket API: REQUEST authorizer, $connect, $disconnect, $default."""

from vmkit import agentrpc
from vmkit.deps import get_deps
from vmkit.observability import logger
from vmkit.services import agents


def authorizer(event, context):
    """Allow the upgrade only for a valid agent token; the instance rides in the context."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    instance = agents.authenticate(get_deps(), headers.get("authorization", ""))
    effect = "Allow" if instance else "Deny"
    return {
        "principalId": instance.id if instance else "anonymous",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}
            ],
        },
        "context": {"instance_id": instance.id, "workspace_id": instance.workspace_id}
        if instance
        else {},
    }


def connect(event, context):
    ctx = event["requestContext"]
    authorized = ctx.get("authorizer") or {}
    agentrpc.remember_connection(
        get_deps(),
        ctx["connectionId"],
        instance_id=authorized["instance_id"],
        workspace_id=authorized["workspace_id"],
    )
    return {"statusCode": 200}


def disconnect(event, context):
    agentrpc.forget_connection(get_deps(), event["requestContext"]["connectionId"])
    return {"statusCode": 200}


def default(event, context):
    agentrpc.receive(get_deps(), event["requestContext"]["connectionId"], event.get("body") or "")
    logger.debug("agent message", extra={"connection_id": event["requestContext"]["connectionId"]})
    return {"statusCode": 200}
