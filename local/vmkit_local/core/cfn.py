"""CloudFormation and SAM property rules the stack builder needs, as pure functions."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from vmkit_local.core.errors import TemplateError


def env_text(value: Any) -> str:
    """CloudFormation turns scalar environment values into strings; anything else is an error."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise TemplateError(f"environment value {value!r} is not a scalar")


def merge_globals(global_properties: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    """SAM's Globals rules: maps merge (the function wins), lists concatenate, scalars override."""
    merged = dict(global_properties)
    for key, value in own.items():
        base = merged.get(key)
        if isinstance(base, dict) and isinstance(value, dict):
            merged[key] = merge_globals(base, value)
        elif isinstance(base, list) and isinstance(value, list):
            merged[key] = base + value
        else:
            merged[key] = value
    return merged


def substitute_definition(definition: Any, substitutions: Mapping[str, str]) -> Any:
    """Apply a state machine's DefinitionSubstitutions: `${Name}` inside any string."""
    if isinstance(definition, dict):
        return {
            key: substitute_definition(value, substitutions) for key, value in definition.items()
        }
    if isinstance(definition, list):
        return [substitute_definition(item, substitutions) for item in definition]
    if isinstance(definition, str):
        return re.sub(
            r"\$\{([A-Za-z0-9_]+)\}",
            lambda match: substitutions.get(match.group(1), match.group(0)),
            definition,
        )
    return definition


def lambda_tasks(definition: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(state name, function name or ARN) of every Task that invokes Lambda, in every
    branch: the `lambda:invoke` integrations and Lambda ARNs as a Resource."""
    for name, state in (definition.get("States") or {}).items():
        if state.get("Type") == "Task":
            resource = str(state.get("Resource", ""))
            if resource.startswith("arn:aws:states:::lambda:invoke"):
                yield (
                    name,
                    str((state.get("Parameters") or state.get("Arguments") or {})["FunctionName"]),
                )
            elif resource.startswith("arn:aws:lambda:"):
                yield name, resource
        for branch in state.get("Branches") or ():
            yield from lambda_tasks(branch)
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                yield from lambda_tasks(state[key])


def _truthy(value: Any) -> bool:
    return value in (True, "true", "True")


def table_kwargs(
    logical_id: str, name: str, properties: Mapping[str, Any]
) -> tuple[dict[str, Any], str | None, bool]:
    """`AWS::DynamoDB::Table` properties → boto3 `create_table` arguments, TTL attribute, PITR."""
    if "KeySchema" not in properties or "AttributeDefinitions" not in properties:
        raise TemplateError(f"{logical_id}: a table needs KeySchema and AttributeDefinitions")
    kwargs: dict[str, Any] = {
        "TableName": name,
        "KeySchema": properties["KeySchema"],
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "BillingMode": properties.get("BillingMode", "PROVISIONED"),
    }
    for key in ("ProvisionedThroughput", "GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if key in properties:
            kwargs[key] = properties[key]
    if kwargs["BillingMode"] == "PROVISIONED" and "ProvisionedThroughput" not in kwargs:
        raise TemplateError(f"{logical_id}: PROVISIONED tables need ProvisionedThroughput")
    stream = properties.get("StreamSpecification")
    if stream:
        kwargs["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": stream["StreamViewType"],
        }
    sse = properties.get("SSESpecification")
    if sse:
        kwargs["SSESpecification"] = {"Enabled": _truthy(sse.get("SSEEnabled"))}
        kwargs["SSESpecification"] |= {
            key: sse[key] for key in ("SSEType", "KMSMasterKeyId") if key in sse
        }
    if "DeletionProtectionEnabled" in properties:
        kwargs["DeletionProtectionEnabled"] = _truthy(properties["DeletionProtectionEnabled"])
    ttl = properties.get("TimeToLiveSpecification") or {}
    ttl_attribute = ttl.get("AttributeName") if _truthy(ttl.get("Enabled")) else None
    pitr = (properties.get("PointInTimeRecoverySpecification") or {}).get(
        "PointInTimeRecoveryEnabled"
    )
    return kwargs, ttl_attribute, _truthy(pitr)
