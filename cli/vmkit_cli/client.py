"""A typed client of VMKit's REST API, shared by the CLI and its tests.

Requests and responses are the API's own models (`vmkit.schemas`), so a field the
server renames breaks here loudly instead of printing blanks. Errors come back as
`ApiError` with the API's stable `code`; a server that cannot be reached is
`Unreachable`. Nothing here prints: the commands decide what people see.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from pydantic import BaseModel

from vmkit.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPublic,
    ComputeTargetCreate,
    ComputeTargetPublic,
    DeployCreate,
    DeployPlan,
    DeployPublic,
    Diagnosis,
    EnvironmentCreate,
    EnvironmentPublic,
    EnvVarsUpdate,
    InstancePublic,
    ListOf,
    LogLines,
    Metrics,
    RepoCreate,
    RepoPublic,
    WhoAmI,
)
from vmkit_cli.errors import FAILED, USAGE, CliError

if TYPE_CHECKING:
    from vmkit.ai.scan_result import ScanResult

M = TypeVar("M", bound=BaseModel)
PAGE_SIZE = 100
TIMEOUT_S = 30.0
# Tells the API the caller is the CLI, so its audit log says so.
INTERFACE_HEADER = {"x-vmkit-interface": "cli"}


class ApiError(CliError):
    """The API refused or failed a request, in its one error shape."""

    def __init__(self, status: int, code: str, message: str, details: Any = None):
        super().__init__(message, code=code, hint=_hint(code, details))
        self.status = status
        self.details = details
        # What you named does not exist or is not valid: the command line is wrong.
        self.exit_code = USAGE if status in (404, 422) else FAILED


class Unreachable(CliError):
    """No answer from the API at all (refused, timed out, not HTTP)."""


def _hint(code: str, details: Any) -> str | None:
    """What to do next, in this CLI's terms, for the codes people meet most."""
    active = details.get("active_deploy_id") if isinstance(details, dict) else None
    return {
        "unauthenticated": "log in again with `vmkit login`",
        "insufficient_scope": "use a key with that scope (`vmkit keys create NAME --scope …`, "
        "then `vmkit login` with it)",
        "environment_not_allowed": "use a key that may act on this environment",
        "deploy_in_progress": f"watch it with `vmkit deploys show {active} --watch` "
        f"or cancel it with `vmkit deploys cancel {active}`"
        if active
        else None,
        "invalid_input": _invalid_fields(details),
    }.get(code)


def _invalid_fields(details: Any) -> str | None:
    if not isinstance(details, list):
        return None
    fields = [
        f"{'.'.join(str(p) for p in d.get('loc', [])[1:]) or 'request'}: {d.get('msg', '')}"
        for d in details
        if isinstance(d, dict)
    ]
    return "; ".join(fields) or None


class VMKitClient:
    """One API endpoint and one credential; every method is one REST call (or a paged list)."""

    def __init__(self, http: httpx.Client):
        self.http = http

    @classmethod
    def connect(
        cls, url: str, key: str, *, transport: httpx.BaseTransport | None = None
    ) -> VMKitClient:
        return cls(
            httpx.Client(
                base_url=url.rstrip("/"),
                headers={"Authorization": f"Bearer {key}", **INTERFACE_HEADER},
                timeout=TIMEOUT_S,
                transport=transport,
            )
        )

    @property
    def url(self) -> str:
        return str(self.http.base_url).rstrip("/")

    def close(self) -> None:
        self.http.close()

    # -- plumbing -------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        body: BaseModel | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """The decoded JSON answer (None for 204), or `ApiError` / `Unreachable`."""
        try:
            response = self.http.request(
                method,
                path,
                json=None if body is None else body.model_dump(mode="json", exclude_none=True),
                params={k: v for k, v in (params or {}).items() if v is not None},
            )
        except httpx.TimeoutException:
            raise Unreachable(
                f"VMKit at {self.url} did not answer within {TIMEOUT_S:.0f} s"
            ) from None
        except httpx.TransportError as exc:
            raise Unreachable(f"cannot reach VMKit at {self.url} ({_reason(exc)})") from None
        if response.status_code >= 400:
            raise _api_error(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise Unreachable(
                f"{self.url} answered {path} with something other than VMKit's JSON "
                f"(HTTP {response.status_code}); is that VMKit's API URL?"
            ) from None

    def _get(self, model: type[M], path: str, **params: Any) -> M:
        return model.model_validate(self.request("GET", path, params=params))

    def _send(self, model: type[M], method: str, path: str, body: BaseModel | None = None) -> M:
        return model.model_validate(self.request(method, path, body=body))

    def _all(self, model: type[M], path: str, **params: Any) -> list[M]:
        """Every item of a paged list, following `next_cursor`."""
        return list(self._pages(model, path, params))

    def _pages(self, model: type[M], path: str, params: dict[str, Any]) -> Iterator[M]:
        cursor = None
        while True:
            page = ListOf[model].model_validate(  # type: ignore[valid-type]
                self.request("GET", path, params={**params, "limit": PAGE_SIZE, "cursor": cursor})
            )
            yield from page.items
            cursor = page.next_cursor
            if not cursor:
                return

    # -- identity, keys -----------------------------------------------------------------------

    def whoami(self) -> WhoAmI:
        return self._get(WhoAmI, "/api/auth/me")

    def list_keys(self) -> list[ApiKeyPublic]:
        return self._all(ApiKeyPublic, "/api/keys")

    def create_key(self, data: ApiKeyCreate) -> ApiKeyCreated:
        return self._send(ApiKeyCreated, "POST", "/api/keys", data)

    def rotate_key(self, key_id: str) -> ApiKeyCreated:
        return self._send(ApiKeyCreated, "POST", f"/api/keys/{key_id}/rotate")

    def revoke_key(self, key_id: str) -> ApiKeyPublic:
        return self._send(ApiKeyPublic, "DELETE", f"/api/keys/{key_id}")

    # -- compute targets, repos -----------------------------------------------------------

    def list_targets(self) -> list[ComputeTargetPublic]:
        return self._all(ComputeTargetPublic, "/api/compute-targets")

    def create_target(self, data: ComputeTargetCreate) -> ComputeTargetPublic:
        return self._send(ComputeTargetPublic, "POST", "/api/compute-targets", data)

    def list_repos(self) -> list[RepoPublic]:
        return self._all(RepoPublic, "/api/repos")

    def get_repo(self, repo_id: str) -> RepoPublic:
        return self._get(RepoPublic, f"/api/repos/{repo_id}")

    def connect_repo(self, data: RepoCreate) -> RepoPublic:
        return self._send(RepoPublic, "POST", "/api/repos", data)

    def scan_repo(self, repo_id: str) -> ScanResult:
        from vmkit.ai.scan_result import ScanResult  # only this command pays for its import

        return self._send(ScanResult, "POST", f"/api/repos/{repo_id}/scan")

    # -- environments ---------------------------------------------------------------------

    def list_environments(self, repo_id: str | None = None) -> list[EnvironmentPublic]:
        return self._all(EnvironmentPublic, "/api/environments", repo_id=repo_id)

    def get_environment(self, environment_id: str) -> EnvironmentPublic:
        return self._get(EnvironmentPublic, f"/api/environments/{environment_id}")

    def create_environment(self, data: EnvironmentCreate) -> EnvironmentPublic:
        return self._send(EnvironmentPublic, "POST", "/api/environments", data)

    def set_env_vars(self, environment_id: str, data: EnvVarsUpdate) -> EnvironmentPublic:
        return self._send(
            EnvironmentPublic, "PATCH", f"/api/environments/{environment_id}/env-vars", data
        )

    def destroy_environment(self, environment_id: str) -> DeployPublic:
        return self._send(DeployPublic, "DELETE", f"/api/environments/{environment_id}")

    # -- deploys --------------------------------------------------------------------------

    def plan_deploy(self, environment_id: str) -> DeployPlan:
        return self._get(DeployPlan, f"/api/environments/{environment_id}/plan")

    def start_deploy(self, environment_id: str, data: DeployCreate) -> DeployPublic:
        return self._send(DeployPublic, "POST", f"/api/environments/{environment_id}/deploys", data)

    def get_deploy(self, deploy_id: str) -> DeployPublic:
        return self._get(DeployPublic, f"/api/deploys/{deploy_id}")

    def list_deploys(
        self, environment_id: str | None = None, limit: int = 20
    ) -> list[DeployPublic]:
        page = ListOf[DeployPublic].model_validate(
            self.request(
                "GET", "/api/deploys", params={"environment_id": environment_id, "limit": limit}
            )
        )
        return page.items

    def cancel_deploy(self, deploy_id: str) -> DeployPublic:
        return self._send(DeployPublic, "POST", f"/api/deploys/{deploy_id}/cancel")

    # -- instances ------------------------------------------------------------------------

    def get_instance(self, instance_id: str) -> InstancePublic:
        return self._get(InstancePublic, f"/api/instances/{instance_id}")

    def logs(self, instance_id: str, container: str, lines: int) -> LogLines:
        return self._get(
            LogLines, f"/api/instances/{instance_id}/logs", container=container, lines=lines
        )

    def metrics(self, instance_id: str) -> Metrics:
        return self._send(Metrics, "POST", f"/api/instances/{instance_id}/metrics")

    def diagnose(self, instance_id: str) -> Diagnosis:
        return self._send(Diagnosis, "POST", f"/api/instances/{instance_id}/diagnose")


def _api_error(response: httpx.Response) -> ApiError:
    try:
        error = response.json()["error"]
        return ApiError(response.status_code, error["code"], error["message"], error.get("details"))
    except (ValueError, KeyError, TypeError):
        # Not VMKit's shape: a proxy or gateway answered (API Gateway's 502/504, an HTML page).
        return ApiError(
            response.status_code,
            f"http_{response.status_code}",
            f"{response.request.method} {response.request.url.path} answered HTTP "
            f"{response.status_code} {response.reason_phrase}".rstrip(),
        )


def _reason(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "connection refused" if "refused" in str(exc).lower() else "cannot connect"
    return type(exc).__name__
