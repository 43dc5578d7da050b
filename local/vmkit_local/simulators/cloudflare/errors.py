"""The Cloudflare v4 envelope: `{success, errors, messages, result[, result_info]}`.

Errors carry numeric codes, sometimes with an `error_chain` (the DNS validator wraps
its findings in 1004 "DNS Validation Error"); codes and messages are the ones the real
API returns, as seen in client bug reports and the API docs.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from ..endpoint import SimulatorError


def envelope(result: Any, *, status: int = 200, result_info: dict | None = None) -> Response:
    body: dict[str, Any] = {"result": result, "success": True, "errors": [], "messages": []}
    if result_info is not None:
        body["result_info"] = result_info
    return JSONResponse(body, status_code=status)


class CloudflareError(SimulatorError):
    def __init__(
        self, status: int, code: int, message: str, chain: list[tuple[int, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.chain = chain or []

    def to_response(self) -> Response:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.chain:
            error["error_chain"] = [{"code": code, "message": text} for code, text in self.chain]
        body = {"result": None, "success": False, "errors": [error], "messages": []}
        return JSONResponse(body, status_code=self.status)


def dns_validation(code: int, message: str) -> CloudflareError:
    return CloudflareError(400, 1004, "DNS Validation Error", [(code, message)])


def record_not_found() -> CloudflareError:
    return CloudflareError(404, 81044, "Record does not exist.")


def unroutable(path: str) -> CloudflareError:
    return CloudflareError(
        404, 7003, f"Could not route to {path}, perhaps your object identifier is invalid?"
    )


def malformed_json() -> CloudflareError:
    return CloudflareError(400, 6007, "Malformed JSON in request body")
