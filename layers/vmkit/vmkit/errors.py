"""One exception root for the whole domain.

Every error a caller can act on is a `VMKitError` with a stable machine-readable
`code` and an HTTP status. REST turns them into the JSON error shape in one place,
MCP into tool errors, step functions into a failure reason on the deploy. Messages
are written for the person (or agent) who has to fix the problem, and never contain
secret material.
"""

from __future__ import annotations

from typing import Any


class VMKitError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str, *, details: Any = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.details = details
        if code:
            self.code = code

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body


class MalformedPayload(VMKitError):
    """A request body that is not the shape the endpoint takes (a webhook, mostly)."""

    code = "malformed_payload"
    status = 400


class InvalidInput(VMKitError):
    code = "invalid_input"
    status = 422


class NotFound(VMKitError):
    code = "not_found"
    status = 404


class Unauthenticated(VMKitError):
    code = "unauthenticated"
    status = 401


class Forbidden(VMKitError):
    code = "forbidden"
    status = 403


class Conflict(VMKitError):
    code = "conflict"
    status = 409


class PayloadTooLarge(VMKitError):
    code = "payload_too_large"
    status = 413


class DecryptionFailed(VMKitError):
    """A ciphertext was altered, truncated, or moved to a record it was not sealed for."""

    code = "decryption_failed"
    status = 500


class ProviderError(VMKitError):
    """A cloud, DNS or forge provider refused or failed a call.

    `transient` marks errors worth retrying (429, 5xx, timeouts); the state machine
    retries those with backoff and fails fast on the rest.
    """

    code = "provider_error"
    status = 502

    def __init__(self, message: str, *, provider: str, transient: bool = False, **kw: Any):
        super().__init__(message, **kw)
        self.provider = provider
        self.transient = transient


class ProviderCredentialsRejected(ProviderError):
    """The provider refused the target's token (401), or the token lacks a permission
    VMKit needs (403). A 403, not a 422: the token is well formed (the schema cannot
    tell a good one from a bad one), the provider forbids VMKit with it. It is refused
    when a target is created, and a revoked one fails a deploy without retries."""

    code = "invalid_provider_token"
    status = 403


class AgentUnavailable(VMKitError):
    """The instance's agent is not connected, or went away mid-call."""

    code = "agent_unavailable"
    status = 409


class AgentCallFailed(VMKitError):
    """The agent answered a call with an error reply."""

    code = "agent_call_failed"
    status = 502


class TransientProviderError(ProviderError):
    """Raised out of a step so the state machine's Retry (matched by class name) retries it."""

    code = "provider_unavailable"
    status = 503
