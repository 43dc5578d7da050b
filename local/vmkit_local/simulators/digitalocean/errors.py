"""DigitalOcean API errors: `{"id", "message", "request_id"}` with the HTTP status.

The `id` is the short name of the status (`not_found`, `unauthorized`,
`unprocessable_entity`, `too_many_requests`, `server_error` …), as in the OpenAPI
description's `error` model; pydo (azure-core) raises `HttpResponseError` from these.
"""

from __future__ import annotations

import uuid

from starlette.responses import JSONResponse, Response

from ..endpoint import SimulatorError


class DigitalOceanError(SimulatorError):
    def __init__(self, status: int, error_id: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_id = error_id
        self.message = message

    def to_response(self) -> Response:
        request_id = str(uuid.uuid4())
        body = {"id": self.error_id, "message": self.message, "request_id": request_id}
        return JSONResponse(body, status_code=self.status, headers={"x-request-id": request_id})


def unprocessable(message: str) -> DigitalOceanError:
    return DigitalOceanError(422, "unprocessable_entity", message)


def not_found() -> DigitalOceanError:
    return DigitalOceanError(
        404, "not_found", "The resource you were accessing could not be found."
    )


def unauthorized() -> DigitalOceanError:
    return DigitalOceanError(401, "unauthorized", "Unable to authenticate you")


def bad_json() -> DigitalOceanError:
    return DigitalOceanError(400, "bad_request", "unexpected end of JSON input")
