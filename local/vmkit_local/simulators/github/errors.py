"""GitHub REST errors: `{"message", "documentation_url", "status"[, "errors"]}`.

Schema-checked endpoints say `Invalid request.\\n\\n"x" wasn't supplied.`; model
validations say "Validation Failed" with an `errors` list; both are 422. Private
repositories you cannot see are 404, never 403, as on GitHub.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from ..endpoint import SimulatorError

DOCS = "https://docs.github.com/rest"


class GitHubError(SimulatorError):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = headers or {}

    def to_response(self) -> Response:
        body: dict[str, Any] = {"message": self.message, "documentation_url": DOCS}
        if self.errors is not None:
            body["errors"] = self.errors
        body["status"] = str(self.status)
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def not_found() -> GitHubError:
    return GitHubError(404, "Not Found")


def bad_credentials() -> GitHubError:
    return GitHubError(401, "Bad credentials")


def requires_authentication() -> GitHubError:
    return GitHubError(401, "Requires authentication")


def not_accessible_by_integration() -> GitHubError:
    return GitHubError(403, "Resource not accessible by integration")


def installation_suspended() -> GitHubError:
    """What a suspended installation's token requests (and new tokens) get."""
    return GitHubError(403, "This installation has been suspended")


def invalid_request(detail: str) -> GitHubError:
    return GitHubError(422, f"Invalid request.\n\n{detail}")


def missing_field(field: str) -> GitHubError:
    return invalid_request(f'"{field}" wasn\'t supplied.')


def validation_failed(
    resource: str, field: str | None, code: str, message: str | None = None
) -> GitHubError:
    """422 "Validation Failed"; `custom` errors carry a message instead of a field."""
    error: dict[str, Any] = {"resource": resource, "code": code}
    if field:
        error["field"] = field
    if message:
        error["message"] = message
    return GitHubError(422, "Validation Failed", errors=[error])


def unprocessable(message: str) -> GitHubError:
    return GitHubError(422, message)


def problems_parsing_json() -> GitHubError:
    return GitHubError(400, "Problems parsing JSON")
