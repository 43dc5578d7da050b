"""Hetzner Cloud API errors: `{"error": {"code", "message", "details"}}` with its status.

Codes and statuses as in the API reference's error table; hcloud-python raises
`APIException(code=<code>)` from these and retries `rate_limit_exceeded`, `conflict`,
`bad_gateway` and `timeout` by itself.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.responses import JSONResponse, Response

from ..endpoint import SimulatorError


class HetznerError(SimulatorError):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def to_response(self) -> Response:
        body = {"error": {"code": self.code, "message": self.message, "details": self.details}}
        return JSONResponse(
            body, status_code=self.status, headers={"X-Correlation-Id": uuid.uuid4().hex[:16]}
        )


def invalid_input(field: str, message: str) -> HetznerError:
    return HetznerError(
        400,
        "invalid_input",
        f"invalid input in field '{field}'",
        {"fields": [{"name": field, "messages": [message]}]},
    )


def not_found(resource: str, ident: Any) -> HetznerError:
    return HetznerError(404, "not_found", f"{resource} with ID '{ident}' not found")


def uniqueness_error(field: str) -> HetznerError:
    return HetznerError(
        409,
        "uniqueness_error",
        f"{field} is already used",
        {"fields": [{"name": field}]},
    )


def unauthorized() -> HetznerError:
    return HetznerError(401, "unauthorized", "unable to authenticate")


def json_error() -> HetznerError:
    return HetznerError(400, "json_error", "Invalid JSON input in your request")
