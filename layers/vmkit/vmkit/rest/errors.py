"""One JSON error shape for every failure: `{"error": {"code", "message", "details"?}}`.

Domain errors carry their own code and status; validation errors become 422 with
the offending fields; anything unexpected is a 500 whose body says nothing about
internals (the details go to the log, keyed by the request id).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match

from vmkit.errors import VMKitError
from vmkit.modelbase import Model
from vmkit.observability import logger


class ErrorDetail(Model):
    code: str
    message: str
    details: Any = None
    request_id: str | None = None


class ErrorResponse(Model):
    error: ErrorDetail


_HTTP_CODES = {
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_response(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    request: Request | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorDetail(
        code=code,
        message=message,
        details=details,
        request_id=request.headers.get("x-request-id") if request else None,
    )
    return JSONResponse(
        {"error": body.model_dump(exclude_none=True)}, status_code=status, headers=headers
    )


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Echoing `input` back could repeat a secret the caller sent; keep location and message.
    return [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (Starlette's own 405 names only the
    first matching route's, though GET and POST on a path are separate routes)."""
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.router.routes
        )
    ]


def install(app: FastAPI) -> None:
    @app.exception_handler(VMKitError)
    async def _domain(request: Request, exc: VMKitError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if exc.status >= 500:
            logger.error("request failed", extra={"code": exc.code, "path": request.url.path})
        return error_response(exc.status, exc.code, exc.message, exc.details, request, headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(
            422,
            "invalid_input",
            "the request is not valid; see details",
            _validation_details(exc),
            request,
        )

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        headers = exc.headers
        if exc.status_code == 405:
            allowed = _allowed_methods(request)
            headers = {**(headers or {}), "Allow": ", ".join(allowed)}
            message = f"{request.method} is not allowed here; use {' or '.join(allowed)}"
        return error_response(exc.status_code, code, message, None, request, headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", extra={"path": request.url.path})
        return error_response(
            500, "internal_error", "something went wrong on our side; it was logged", None, request
        )
