"""Errors a call can end with. Each becomes an `error` reply carrying its `code`, so the
control plane can tell a bad request from a broken host without parsing messages.
Messages are for the operator who reads them and never contain secrets."""

from __future__ import annotations


class AgentError(Exception):
    code = "agent_error"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class InvalidParams(AgentError):
    code = "invalid_params"


class NotFound(AgentError):
    code = "not_found"


class ChecksumMismatch(AgentError):
    code = "checksum_mismatch"


class DownloadFailed(AgentError):
    code = "download_failed"


class HostError(AgentError):
    """A host command or service refused (sshd -t, nft, useradd …)."""

    code = "host_error"


class DockerUnavailable(HostError):
    code = "docker_unavailable"
