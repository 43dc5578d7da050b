"""The embedded default: the whole control plane on one machine, offline.

`LocalStack` builds the stack from `template.yaml` (moto for AWS, the handlers run
in-process, a WebSocket gateway for API Gateway), `StackConfig` says how, and
`vmkit_local.testing.stack_fixture` runs it under pytest.
"""

from vmkit_local.asgi import AppSpec
from vmkit_local.errors import LocalStackError, TemplateError
from vmkit_local.stack import LocalStack, Service, StackConfig
from vmkit_local.websocket import GatewayLimits

__all__ = [
    "AppSpec",
    "GatewayLimits",
    "LocalStack",
    "LocalStackError",
    "Service",
    "StackConfig",
    "TemplateError",
]
