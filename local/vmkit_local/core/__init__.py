"""The template-on-moto engine: a SAM template run as a local stack, offline.

`LocalStack` builds the stack from a template (moto for AWS, the handlers run
in-process, a WebSocket gateway for API Gateway), `StackConfig` says how, and
`vmkit_local.testing.stack_fixture` runs it under pytest. Nothing in here knows about
VMKit: it reads only the template it is given, and builds only the resource types
VMKit's `template.yaml` uses.
"""

from vmkit_local.core.asgi import AppSpec
from vmkit_local.core.errors import LocalStackError, TemplateError
from vmkit_local.core.stack import LocalStack, Service, StackConfig
from vmkit_local.core.websocket import GatewayLimits

__all__ = [
    "AppSpec",
    "GatewayLimits",
    "LocalStack",
    "LocalStackError",
    "Service",
    "StackConfig",
    "TemplateError",
]
