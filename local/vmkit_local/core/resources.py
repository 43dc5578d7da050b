"""What the local stack builds, read from the template: one small record per resource kind.

Values in these records are already resolved (no intrinsics left) and already local
(URLs point at this machine), so the parts that consume them never see CloudFormation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class KmsKeySpec:
    logical_id: str
    key_id: str
    arn: str
    description: str
    key_usage: str
    key_spec: str


@dataclass(frozen=True)
class KmsAliasSpec:
    logical_id: str
    alias_name: str
    target_key_id: str


@dataclass(frozen=True)
class SecretSpec:
    logical_id: str
    name: str
    description: str
    secret_string: str | None
    # CloudFormation's GenerateSecretString block, when the value is generated.
    generate: Mapping[str, Any] | None
    kms_key_id: str | None


@dataclass(frozen=True)
class SsmParameterSpec:
    logical_id: str
    name: str
    value: str
    type: str
    description: str


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    name: str
    create_table_kwargs: Mapping[str, Any]
    ttl_attribute: str | None
    point_in_time_recovery: bool


@dataclass(frozen=True)
class FunctionSpec:
    """A Lambda function as the in-process runtime needs it."""

    logical_id: str
    name: str
    arn: str
    code_uri: Path
    handler: str
    timeout_s: int
    memory_mb: int
    environment: Mapping[str, str]
    layer_paths: tuple[Path, ...] = ()


@dataclass(frozen=True)
class ScheduleSpec:
    """A function's `Type: Schedule` event: the EventBridge rule SAM makes for it."""

    function_name: str
    rule_name: str
    period_s: float
    enabled: bool = True


@dataclass(frozen=True)
class StateMachineSpec:
    logical_id: str
    name: str
    arn: str
    definition: str
    type: str


@dataclass(frozen=True)
class WebSocketRoute:
    route_key: str
    function_name: str
    # API Gateway sends an integration's response back to the client only when the
    # route has a route response (RouteResponseSelectionExpression / RouteResponse).
    returns_response: bool = False


@dataclass(frozen=True)
class WebSocketAuthorizer:
    function_name: str
    # e.g. ("route.request.header.Authorization", "route.request.querystring.token")
    identity_sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class WebSocketApiSpec:
    logical_id: str
    api_id: str
    stage: str
    route_selection_expression: str
    routes: Mapping[str, WebSocketRoute] = field(default_factory=dict)
    authorizer: WebSocketAuthorizer | None = None
