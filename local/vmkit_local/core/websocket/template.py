"""A template's WebSocket API: its stage, routes, their functions, the $connect authorizer.

Read from an `AWS::ApiGatewayV2::Api` (ProtocolType WEBSOCKET) with its Route,
Integration, Authorizer, RouteResponse and Stage resources, as template.yaml spells it
(SAM has no WebSocket resource of its own). A route "returns a response" (its
integration's body is sent back to the client) when it has a
RouteResponseSelectionExpression or a RouteResponse, as on API Gateway.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from vmkit_local.core.errors import TemplateError
from vmkit_local.core.resources import WebSocketApiSpec, WebSocketAuthorizer, WebSocketRoute

if TYPE_CHECKING:
    from vmkit_local.core.stackspec import StackSpec

V2_API_TYPE = "AWS::ApiGatewayV2::Api"
WEBSOCKET_TYPES = frozenset(
    {V2_API_TYPE}
    | {f"AWS::ApiGatewayV2::{child}" for child in ("Route", "Integration", "RouteResponse")}
    | {"AWS::ApiGatewayV2::Authorizer", "AWS::ApiGatewayV2::Stage"}
)


def read_websocket_apis(spec: StackSpec) -> list[WebSocketApiSpec]:
    return [
        _from_v2(spec, logical_id, properties)
        for logical_id, properties in spec.of_type(V2_API_TYPE)
        if properties.get("ProtocolType") == "WEBSOCKET"
    ]


def _function_name(arn_or_uri: str, where: str) -> str:
    """The function named in a Lambda ARN or an API Gateway integration URI."""
    match = re.search(r"function:([A-Za-z0-9_-]+)", arn_or_uri)
    if not match:
        raise TemplateError(f"{where}: {arn_or_uri!r} does not name a Lambda function")
    return match.group(1)


def _children(spec: StackSpec, kind: str, api_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Resources of `kind` that belong to the API (`ApiId: !Ref Api`)."""
    for child_id, child in spec.of_type(kind):
        if child.get("ApiId") == {"Ref": api_id}:
            yield child_id, child


def _from_v2(spec: StackSpec, logical_id: str, properties: Mapping[str, Any]) -> WebSocketApiSpec:
    integrations = {
        spec.physical(child_id).ref: child
        for child_id, child in _children(spec, "AWS::ApiGatewayV2::Integration", logical_id)
    }
    with_response = {
        spec.resolve(child.get("RouteId"), child_id)
        for child_id, child in _children(spec, "AWS::ApiGatewayV2::RouteResponse", logical_id)
    }
    routes: dict[str, WebSocketRoute] = {}
    authorizer = None
    for route_id, route in _children(spec, "AWS::ApiGatewayV2::Route", logical_id):
        target = str(spec.resolve(route.get("Target", ""), f"{route_id}.Target"))
        integration = integrations.get(target.rsplit("/", 1)[-1])
        if integration is None:
            raise TemplateError(
                f"{route_id}: Target {target!r} is not an integration of {logical_id}"
            )
        uri = str(spec.resolve(integration.get("IntegrationUri", ""), f"{route_id} integration"))
        key = str(route.get("RouteKey"))
        routes[key] = WebSocketRoute(
            route_key=key,
            function_name=_function_name(uri, f"{route_id} integration"),
            returns_response=bool(route.get("RouteResponseSelectionExpression"))
            or spec.physical(route_id).ref in with_response,
        )
        if route.get("AuthorizationType") == "CUSTOM":
            authorizer = _v2_authorizer(spec, logical_id, route_id, route)
    stages = [
        str(spec.resolve(child.get("StageName"), child_id))
        for child_id, child in _children(spec, "AWS::ApiGatewayV2::Stage", logical_id)
    ]
    return WebSocketApiSpec(
        logical_id=logical_id,
        api_id=spec.physical(logical_id).ref,
        stage=stages[0] if stages else "production",
        route_selection_expression=str(properties.get("RouteSelectionExpression", "")),
        routes=routes,
        authorizer=authorizer,
    )


def _v2_authorizer(
    spec: StackSpec, api_id: str, route_id: str, route: Mapping[str, Any]
) -> WebSocketAuthorizer:
    wanted = spec.resolve(route.get("AuthorizerId"), f"{route_id}.AuthorizerId")
    for child_id, child in _children(spec, "AWS::ApiGatewayV2::Authorizer", api_id):
        if spec.physical(child_id).ref != wanted:
            continue
        if child.get("AuthorizerType") != "REQUEST":
            raise TemplateError(f"{child_id}: WebSocket APIs take REQUEST authorizers only")
        return WebSocketAuthorizer(
            function_name=_function_name(
                str(spec.resolve(child.get("AuthorizerUri", ""), child_id)), child_id
            ),
            identity_sources=tuple(spec.resolve(child.get("IdentitySource") or [], child_id)),
        )
    raise TemplateError(f"{route_id}: AuthorizerId is not an authorizer of {api_id}")
