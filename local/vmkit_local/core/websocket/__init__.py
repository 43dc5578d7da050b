"""API Gateway's WebSocket API, played locally: the gateway and its @connections API."""

from vmkit_local.core.websocket.gateway import GatewayLimits, WebSocketGateway

__all__ = ["GatewayLimits", "WebSocketGateway"]
