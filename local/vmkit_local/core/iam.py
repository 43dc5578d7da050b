"""Each function's AWS calls checked against its own role's policies, as IAM would.

Every function of the local stack runs in this process and shares one set of
credentials, and moto's server-side IAM checks need one identity per caller, so the
check happens where the identity is known: in the caller. A botocore hook on the
default session (every client vmkit makes comes from it) looks at which function is
running (`acting_as`, set by the runtime around each handler), turns the call into
IAM's action and resource ARN, and evaluates the function's policies, from the
template's `Policies` with SAM's policy templates expanded by aws-sam-translator, with
moto's IAM policy evaluator. A call no statement allows raises the error AWS returns:
a `ClientError` with `AccessDeniedException` (S3: `AccessDenied`), naming the role,
the action and the resource, so a missing permission fails here as it would on AWS.

Calls made outside any function (the stack provisioning itself, tests seeding state)
are the operator's and are not checked. Resource-based policies (the KMS key policy)
are not evaluated: the template's key policy grants the account, so the function's
role decides, as it does here.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

log = logging.getLogger(__name__)

# The logical id of the function whose handler is running on this thread or task.
acting_as: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "vmkit_local_acting_as", default=None
)

# API operation → IAM action where the two names differ.
_ACTION_OF = {
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("execute-api", "PostToConnection"): "execute-api:ManageConnections",
    ("execute-api", "DeleteConnection"): "execute-api:ManageConnections",
    ("execute-api", "GetConnection"): "execute-api:ManageConnections",
}
# Step Functions' callback actions take no resource: a policy must grant them on "*".
_RESOURCELESS = {"SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat"}
_DENIED_CODE = {"s3": "AccessDenied", "execute-api": "ForbiddenException"}


class UnmodelledCall(Exception):
    """A call whose IAM resource this module does not know: add it to `_resources`."""


@dataclass(frozen=True)
class AccountResources:
    """What turns a call's parameters into ARNs: the stack's region, account, keys, API."""

    region: str
    account_id: str
    kms_key_arns: Mapping[str, str] = field(default_factory=dict)  # key id or alias → ARN
    websocket_api: tuple[str, str] | None = None  # (api id, stage)

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account_id}:{resource}"


@dataclass(frozen=True)
class FunctionRole:
    """The execution role of a function (or of a state machine): its policy documents."""

    function: str  # the logical id of what assumes it
    role_name: str
    documents: tuple[Mapping[str, Any], ...]

    def allows(self, action: str, resource: str) -> bool:
        # Imported by LocalIam before any function runs (packages.py exempts none of
        # moto's own dependencies while a function's handler runs).
        from moto.iam.access_control import IAMPolicy, PermissionResult

        allowed = False
        for document in self.documents:
            result = IAMPolicy(json.dumps(document)).is_action_permitted(action, resource)
            if result is PermissionResult.DENIED:
                return False
            allowed = allowed or result is PermissionResult.PERMITTED
        return allowed


@dataclass(frozen=True)
class AllowedCall:
    function: str
    action: str
    resource: str


class LocalIam:
    """Installed once per stack; checks every call a function makes while it runs."""

    def __init__(self, roles: Mapping[str, FunctionRole], account: AccountResources):
        import moto.iam.access_control  # noqa: F401 (loaded now, outside any function)

        self.roles = dict(roles)
        self.account = account
        self._session_events: Any = None
        self._recordings: list[list[AllowedCall]] = []
        self._recordings_lock = threading.Lock()

    def install(self) -> None:
        import boto3

        # Clients copy the session's handlers when they are made, so a client made
        # before this (by a test, before the stack started) goes unchecked.
        self._session_events = boto3._get_default_session().events
        self._session_events.register("before-parameter-build", self._check)

    def uninstall(self) -> None:
        if self._session_events is not None:
            self._session_events.unregister("before-parameter-build", self._check)
            self._session_events = None

    def _check(self, params: Mapping[str, Any], model: Any, **_: Any) -> None:
        function = acting_as.get()
        if function is None or function not in self.roles:
            return
        role = self.roles[function]
        service = model.service_model.signing_name
        for action, resource in self._requests(service, model.name, params):
            if not role.allows(action, resource):
                raise access_denied(
                    role, self.account.account_id, service, model.name, action, resource
                )
            with self._recordings_lock:
                for calls in self._recordings:
                    calls.append(AllowedCall(function, action, resource))

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[AllowedCall]]:
        """Every call the roles allowed while this is open, from any thread: what a
        least-privilege check compares the grants with."""
        calls: list[AllowedCall] = []
        with self._recordings_lock:
            self._recordings.append(calls)
        try:
            yield calls
        finally:
            with self._recordings_lock:
                self._recordings.remove(calls)

    def _requests(
        self, service: str, operation: str, params: Mapping[str, Any]
    ) -> Iterator[tuple[str, str]]:
        """(IAM action, resource ARN) pairs one call needs; a transaction needs several."""
        if service == "dynamodb" and operation in ("TransactWriteItems", "TransactGetItems"):
            for item in params.get("TransactItems", []):
                ((kind, body),) = item.items()
                yield f"dynamodb:{_TRANSACT_ACTION[kind]}", self._table(body)
            return
        if service == "dynamodb" and operation in ("BatchWriteItem", "BatchGetItem"):
            for table in params.get("RequestItems", {}):
                yield f"dynamodb:{operation}", self.account.arn("dynamodb", f"table/{table}")
            return
        action = _ACTION_OF.get((service, operation), f"{service}:{operation}")
        if service == "states" and operation in _RESOURCELESS:
            yield action, "*"
            return
        yield action, self._resource(service, operation, params)

    def _table(self, params: Mapping[str, Any]) -> str:
        table = params["TableName"]
        if str(table).startswith("arn:"):
            return str(table)
        index = params.get("IndexName")
        suffix = f"/index/{index}" if index else ""
        return self.account.arn("dynamodb", f"table/{table}{suffix}")

    def _resource(self, service: str, operation: str, params: Mapping[str, Any]) -> str:
        account = self.account
        if service == "dynamodb" and "TableName" in params:
            return self._table(params)
        if service == "kms":
            key = params.get("KeyId")
            if key is None and len(set(account.kms_key_arns.values())) == 1:
                return next(iter(account.kms_key_arns.values()))
            if key in account.kms_key_arns:
                return account.kms_key_arns[key]
            if isinstance(key, str) and key.startswith("arn:"):
                return key
        if service == "secretsmanager" and "SecretId" in params:
            secret = params["SecretId"]
            # A secret's ARN ends in `-` and six random characters.
            return (
                secret
                if secret.startswith("arn:")
                else account.arn("secretsmanager", f"secret:{secret}-AbCdEf")
            )
        if service == "states":
            arn = params.get("executionArn") or params.get("stateMachineArn")
            if arn:
                return str(arn)
        if service == "s3" and "Bucket" in params:
            key = params.get("Key")
            return f"arn:aws:s3:::{params['Bucket']}" + (f"/{key}" if key else "")
        if service == "ssm" and "Name" in params:
            return account.arn("ssm", f"parameter/{str(params['Name']).lstrip('/')}")
        if service == "execute-api" and account.websocket_api and "ConnectionId" in params:
            api_id, stage = account.websocket_api
            method = {"PostToConnection": "POST", "DeleteConnection": "DELETE"}.get(
                operation, "GET"
            )
            return account.arn(
                "execute-api", f"{api_id}/{stage}/{method}/@connections/{params['ConnectionId']}"
            )
        raise UnmodelledCall(
            f"local IAM does not know the resource of {service}:{operation}; "
            "add it to vmkit_local/core/iam.py"
        )


_TRANSACT_ACTION = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


def access_denied(
    role: FunctionRole, account_id: str, service: str, operation: str, action: str, resource: str
) -> ClientError:
    """The error AWS answers with, worded as IAM words it."""
    message = (
        f"User: arn:aws:sts::{account_id}:assumed-role/{role.role_name}/{role.function} "
        f"is not authorized to perform: {action} on resource: {resource} because no "
        "identity-based policy allows the action"
    )
    code = _DENIED_CODE.get(service, "AccessDeniedException")
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 403}},
        operation,
    )
