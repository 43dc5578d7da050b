"""The template read as a local stack: parameters, physical names, and typed resources.

CloudFormation gives every resource a physical name (a table name, a key id, an ARN)
that other resources reach through `Ref`/`GetAtt`. Here those names are derived
deterministically from the stack name and logical id, so a restart against the same
data directory finds the same tables and keys, and so functions and state machines
can reference each other without an order of creation. Secrets are the one exception
(Secrets Manager adds a random suffix to their ARNs), so their ARNs are recorded once
they exist (`record`).

URLs of API Gateway and function URL endpoints (`https://{id}.execute-api...`) are
rewritten to the local servers that play them, wherever they end up in a function's
environment or a state machine's substitutions.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vmkit_local.core.cfn import (
    env_text,
    lambda_tasks,
    merge_globals,
    substitute_definition,
    table_kwargs,
)
from vmkit_local.core.errors import TemplateError
from vmkit_local.core.iam import FunctionRole
from vmkit_local.core.resources import (
    FunctionSpec,
    KmsAliasSpec,
    KmsKeySpec,
    ScheduleSpec,
    SecretSpec,
    SsmParameterSpec,
    StateMachineSpec,
    TableSpec,
    WebSocketApiSpec,
)
from vmkit_local.core.template import Resolver, load_template
from vmkit_local.core.websocket.template import V2_API_TYPE, WEBSOCKET_TYPES, read_websocket_apis

FUNCTION_TYPE = "AWS::Serverless::Function"
FUNCTION_URL_TYPE = "AWS::Lambda::Url"  # SAM adds one for a function's FunctionUrlConfig
TABLE_TYPE = "AWS::DynamoDB::Table"
STATE_MACHINE_TYPE = "AWS::Serverless::StateMachine"
LAYER_TYPE = "AWS::Serverless::LayerVersion"
HTTP_API_TYPE = "AWS::Serverless::HttpApi"
# What the local stack builds: the resource types VMKit's template.yaml uses, no more.
BUILT_TYPES = frozenset(
    {FUNCTION_TYPE, FUNCTION_URL_TYPE, TABLE_TYPE, STATE_MACHINE_TYPE, LAYER_TYPE, HTTP_API_TYPE}
    | {"AWS::KMS::Key", "AWS::KMS::Alias", "AWS::SSM::Parameter", "AWS::SecretsManager::Secret"}
    | {"AWS::S3::Bucket", *WEBSOCKET_TYPES}
)
# Accepted and left out: the in-process runtime lets every caller invoke every function,
# and API Gateway's access logs have nowhere to go locally (the stack logs itself).
LOG_GROUP_TYPE = "AWS::Logs::LogGroup"
UNENFORCED_TYPES = frozenset({"AWS::Lambda::Permission", LOG_GROUP_TYPE})

# Lambda refuses these keys in a function's environment (it sets them itself).
RESERVED_ENV_KEYS = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)

_KMS_KEY_NAMESPACE = uuid.UUID("6f1c2d0e-0b7a-4c55-9d1e-7a0c3f5e9b21")


@dataclass(frozen=True)
class LocalUrls:
    """Where this machine serves what API Gateway and function URLs serve on AWS.

    `api_urls` maps the logical id of an HTTP/REST API, or of a function with a
    function URL, to the base URL of the local app that plays it.
    """

    websocket_url: str = "ws://127.0.0.1:0"
    websocket_management_url: str = "http://127.0.0.1:0"
    api_urls: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _LocalEndpoint:
    stage: str
    https_url: str
    wss_url: str
    keeps_stage: bool


@dataclass
class _Physical:
    ref: Any
    attributes: dict[str, Any] = field(default_factory=dict)


class StackSpec:
    """A parsed template plus the local names of its resources."""

    def __init__(
        self,
        template_path: Path,
        *,
        stack_name: str = "vmkit-local",
        region: str = "us-east-1",
        account_id: str = "123456789012",
        parameter_overrides: Mapping[str, str] | None = None,
        local_urls: LocalUrls | None = None,
    ):
        self.template_path = template_path.resolve()
        self.base_dir = self.template_path.parent
        self.template = load_template(self.template_path)
        self.stack_name = stack_name
        self.region = region
        self.account_id = account_id
        self.local_urls = local_urls or LocalUrls()
        self.resources: dict[str, dict[str, Any]] = dict(self.template["Resources"])
        self._refuse_what_is_not_built()
        self._add_function_urls()
        self.parameters = self._read_parameters(parameter_overrides or {})
        unknown_apis = sorted(set(self.local_urls.api_urls) - set(self.resources))
        if unknown_apis:
            raise TemplateError(
                f"local app URL given for {', '.join(unknown_apis)}, not in the template"
            )
        self._physical: dict[str, _Physical] = {}
        self._naming: set[str] = set()
        self._websocket_apis: list[WebSocketApiSpec] | None = None
        self.resolver = Resolver(
            parameters=self.parameters,
            pseudo=self._pseudo_parameters(),
            ref=lambda logical_id: self.physical(logical_id).ref,
            get_att=self._get_att,
        )

    # ----- parameters and pseudo parameters

    def _pseudo_parameters(self) -> dict[str, Any]:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack_name,
            "AWS::StackId": (
                f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/"
                f"{self.stack_name}/{uuid.uuid5(_KMS_KEY_NAMESPACE, self.stack_name)}"
            ),
            "AWS::NotificationARNs": [],
        }

    def _read_parameters(self, overrides: Mapping[str, str]) -> dict[str, Any]:
        declared: dict[str, dict[str, Any]] = self.template.get("Parameters") or {}
        unknown = sorted(set(overrides) - set(declared))
        if unknown:
            names = ", ".join(unknown)
            raise TemplateError(
                f"parameter override(s) {names} not declared in {self.template_path.name}"
            )
        values: dict[str, Any] = {}
        for name, declaration in declared.items():
            if name in overrides:
                value = overrides[name]
            elif "Default" in declaration:
                value = declaration["Default"]
            else:
                raise TemplateError(f"parameter {name} has no Default; give it a value")
            values[name] = self._check_parameter(name, declaration, value)
        return values

    @staticmethod
    def _check_parameter(name: str, declaration: Mapping[str, Any], value: Any) -> Any:
        kind = str(declaration.get("Type", "String"))
        if kind.startswith("AWS::SSM::Parameter::Value"):
            raise TemplateError(
                f"parameter {name}: type {kind} needs SSM at deploy time; override it"
            )
        if kind in ("CommaDelimitedList", "List<Number>") or kind.startswith("List<"):
            items = value if isinstance(value, list) else str(value).split(",")
            return [str(item).strip() for item in items]
        text = str(value).lower() if isinstance(value, bool) else str(value)
        allowed = declaration.get("AllowedValues")
        if allowed is not None and text not in [str(option) for option in allowed]:
            raise TemplateError(f"parameter {name}={text!r} is not one of {allowed}")
        pattern = declaration.get("AllowedPattern")
        if pattern is not None and not re.fullmatch(str(pattern), text):
            raise TemplateError(f"parameter {name}={text!r} does not match {pattern}")
        if kind == "Number":
            try:
                float(text)
            except ValueError as exc:
                raise TemplateError(f"parameter {name}={text!r} is not a Number") from exc
        return text

    # ----- structure checks and implicit resources

    def _refuse_what_is_not_built(self) -> None:
        for logical_id, resource in self.resources.items():
            if "Condition" in resource:
                raise TemplateError(
                    f"{logical_id}: resource Conditions are not supported by the local stack"
                )
            kind = resource.get("Type")
            if kind not in BUILT_TYPES | UNENFORCED_TYPES:
                raise TemplateError(f"{logical_id}: the local stack does not build {kind}")
            protocol = (resource.get("Properties") or {}).get("ProtocolType")
            if kind == V2_API_TYPE and protocol != "WEBSOCKET":
                raise TemplateError(
                    f"{logical_id}: the local stack builds WebSocket APIs only, not {protocol}"
                )

    def _add_function_urls(self) -> None:
        """The `{Function}Url` resource SAM adds for a FunctionUrlConfig, which `!GetAtt`
        can reach."""
        for logical_id, properties in list(self.of_type(FUNCTION_TYPE)):
            if "FunctionUrlConfig" in properties:
                self.resources.setdefault(
                    f"{logical_id}Url",
                    {"Type": FUNCTION_URL_TYPE, "Properties": {"TargetFunctionArn": logical_id}},
                )

    def of_type(self, *types: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """(logical id, properties) of every resource of the given types, in template order."""
        for logical_id, resource in self.resources.items():
            if resource.get("Type") in types:
                yield logical_id, dict(resource.get("Properties") or {})

    def resolve(self, value: Any, where: str) -> Any:
        return self.resolver.resolve(value, where)

    # ----- physical names

    def record(self, logical_id: str, ref: Any, **attributes: Any) -> None:
        """Note the physical id of a resource that only exists once created (secrets)."""
        self._physical[logical_id] = _Physical(ref, dict(attributes))

    def physical(self, logical_id: str) -> _Physical:
        if logical_id in self._physical:
            return self._physical[logical_id]
        if logical_id not in self.resources:
            raise TemplateError(f"reference to {logical_id}, which is not in the template")
        if logical_id in self._naming:
            raise TemplateError(f"{logical_id}: its name depends on itself")
        self._naming.add(logical_id)
        try:
            physical = self._name(logical_id, self.resources[logical_id])
        finally:
            self._naming.discard(logical_id)
        self._physical[logical_id] = physical
        return physical

    def _get_att(self, logical_id: str, attribute: str) -> Any:
        physical = self.physical(logical_id)
        if attribute not in physical.attributes:
            kind = self.resources[logical_id].get("Type")
            raise TemplateError(
                f"GetAtt {logical_id}.{attribute}: the local stack does not model "
                f"attribute {attribute} of {kind}"
            )
        return physical.attributes[attribute]

    def _short_id(self, logical_id: str, length: int = 10) -> str:
        digest = hashlib.sha256(f"{self.stack_name}/{logical_id}".encode()).hexdigest()
        return digest[:length]

    def _property_name(self, logical_id: str, properties: Mapping[str, Any], key: str) -> str:
        if key in properties:
            return str(self.resolve(properties[key], f"{logical_id}.{key}"))
        return f"{self.stack_name}-{logical_id}"

    def _name(self, logical_id: str, resource: Mapping[str, Any]) -> _Physical:
        kind = resource.get("Type", "")
        properties = resource.get("Properties") or {}
        region, account = self.region, self.account_id
        if kind == FUNCTION_TYPE:
            name = self._property_name(logical_id, properties, "FunctionName")
            arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
            return _Physical(name, {"Arn": arn})
        if kind == FUNCTION_URL_TYPE:
            target = properties["TargetFunctionArn"]
            url = f"https://{self._short_id(logical_id, 32)}.lambda-url.{region}.on.aws/"
            function_arn = (
                self.physical(target).attributes["Arn"] if target in self.resources else ""
            )
            return _Physical(function_arn, {"FunctionUrl": url, "FunctionArn": function_arn})
        if kind == TABLE_TYPE:
            name = self._property_name(logical_id, properties, "TableName")
            arn = f"arn:aws:dynamodb:{region}:{account}:table/{name}"
            return _Physical(
                name, {"Arn": arn, "StreamArn": f"{arn}/stream/1970-01-01T00:00:00.000"}
            )
        if kind == "AWS::KMS::Key":
            key_id = str(
                uuid.uuid5(_KMS_KEY_NAMESPACE, f"{account}/{region}/{self.stack_name}/{logical_id}")
            )
            return _Physical(
                key_id, {"KeyId": key_id, "Arn": f"arn:aws:kms:{region}:{account}:key/{key_id}"}
            )
        if kind == "AWS::KMS::Alias":
            return _Physical(
                str(self.resolve(properties.get("AliasName"), f"{logical_id}.AliasName"))
            )
        if kind == "AWS::SSM::Parameter":
            name = self._property_name(logical_id, properties, "Name")
            return _Physical(name, {"Type": properties.get("Type", "String")})
        if kind == STATE_MACHINE_TYPE:
            name = self._property_name(logical_id, properties, "Name")
            arn = f"arn:aws:states:{region}:{account}:stateMachine:{name}"
            return _Physical(arn, {"Arn": arn, "Name": name})
        if kind == LAYER_TYPE:
            name = self._property_name(logical_id, properties, "LayerName")
            return _Physical(f"arn:aws:lambda:{region}:{account}:layer:{name}:1")
        if kind in (HTTP_API_TYPE, V2_API_TYPE):
            api_id = self._short_id(logical_id)
            scheme = "wss" if kind == V2_API_TYPE else "https"
            endpoint = f"{scheme}://{api_id}.execute-api.{region}.amazonaws.com"
            return _Physical(
                api_id,
                {
                    "ApiEndpoint": endpoint,
                    "ApiId": api_id,
                },
            )
        if kind == "AWS::S3::Bucket":
            # S3 names are global; CloudFormation derives one from the stack and logical id.
            default = f"{self.stack_name}-{logical_id}-{self._short_id(logical_id, 12)}".lower()
            name = (
                str(self.resolve(properties["BucketName"], logical_id))
                if "BucketName" in properties
                else default
            )
            return _Physical(
                name, {"Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com"}
            )
        if kind == LOG_GROUP_TYPE:
            name = self._property_name(logical_id, properties, "LogGroupName")
            return _Physical(name, {"Arn": f"arn:aws:logs:{region}:{account}:log-group:{name}:*"})
        if kind == "AWS::SecretsManager::Secret":
            raise TemplateError(f"{logical_id}: secret referenced before it was created")
        return _Physical(self._short_id(logical_id))

    # ----- endpoint rewriting

    @functools.cached_property
    def _api_endpoints(self) -> dict[str, _LocalEndpoint]:
        endpoints: dict[str, _LocalEndpoint] = {}
        for spec in self.websocket_apis():
            endpoints[spec.api_id] = _LocalEndpoint(
                stage=spec.stage,
                https_url=self.local_urls.websocket_management_url,
                wss_url=self.local_urls.websocket_url,
                keeps_stage=True,
            )
        for logical_id, properties in self.of_type(HTTP_API_TYPE):
            url = self.local_urls.api_urls.get(logical_id)
            if url is None:
                continue
            stage = str(self.resolve(properties.get("StageName", "$default"), logical_id))
            endpoints[self.physical(logical_id).ref] = _LocalEndpoint(
                stage, url, url, keeps_stage=False
            )
        return endpoints

    def rewrite_endpoints(self, text: str) -> str:
        """Point AWS endpoint URLs of this stack's APIs at the local servers playing them.

        A WebSocket API keeps its stage in the path (the local gateway serves
        `/{stage}` and `/{stage}/@connections` as AWS does); a local HTTP app is
        mounted at its root, so the stage segment of REST/HTTP API URLs is dropped.
        """
        if "execute-api" not in text and "lambda-url" not in text:
            return text

        def execute_api(match: re.Match[str]) -> str:
            endpoint = self._api_endpoints.get(match.group("id"))
            if endpoint is None:
                return match.group(0)
            base = endpoint.wss_url if match.group("scheme") == "wss" else endpoint.https_url
            path = match.group("path") or ""
            stage_prefix = f"/{endpoint.stage}"
            if not endpoint.keeps_stage and (
                path == stage_prefix or path.startswith(stage_prefix + "/")
            ):
                path = path[len(stage_prefix) :]
            return base.rstrip("/") + path

        text = re.sub(
            r"(?P<scheme>wss|https)://(?P<id>[a-z0-9]+)\.execute-api\.[a-z0-9-]+\.amazonaws\.com"
            r"(?P<path>/[^\s\"']*)?",
            execute_api,
            text,
        )
        for logical_id, app_url in self.local_urls.api_urls.items():
            url_id = f"{logical_id}Url" if f"{logical_id}Url" in self.resources else logical_id
            resource = self.resources.get(url_id)
            if resource is not None and resource.get("Type") == FUNCTION_URL_TYPE:
                function_url = self.physical(url_id).attributes["FunctionUrl"]
                text = text.replace(function_url, app_url.rstrip("/") + "/")
        return text

    # ----- typed readers

    def kms_keys(self) -> list[KmsKeySpec]:
        specs = []
        for logical_id, properties in self.of_type("AWS::KMS::Key"):
            properties = self.resolve(properties, logical_id)
            physical = self.physical(logical_id)
            specs.append(
                KmsKeySpec(
                    logical_id=logical_id,
                    key_id=physical.ref,
                    arn=physical.attributes["Arn"],
                    description=str(properties.get("Description", "")),
                    key_usage=str(properties.get("KeyUsage", "ENCRYPT_DECRYPT")),
                    key_spec=str(properties.get("KeySpec", "SYMMETRIC_DEFAULT")),
                )
            )
        return specs

    def kms_aliases(self) -> list[KmsAliasSpec]:
        specs = []
        for logical_id, properties in self.of_type("AWS::KMS::Alias"):
            properties = self.resolve(properties, logical_id)
            alias = str(properties.get("AliasName", ""))
            if not alias.startswith("alias/"):
                raise TemplateError(
                    f"{logical_id}: AliasName must start with 'alias/', got {alias!r}"
                )
            target = str(properties.get("TargetKeyId", ""))
            specs.append(KmsAliasSpec(logical_id, alias, target.rsplit("/", 1)[-1]))
        return specs

    def buckets(self) -> list[str]:
        return [self.physical(logical_id).ref for logical_id, _ in self.of_type("AWS::S3::Bucket")]

    def secrets(self) -> list[SecretSpec]:
        specs = []
        for logical_id, properties in self.of_type("AWS::SecretsManager::Secret"):
            properties = self.resolve(properties, logical_id)
            secret_string = properties.get("SecretString")
            specs.append(
                SecretSpec(
                    logical_id=logical_id,
                    name=str(properties.get("Name", f"{self.stack_name}-{logical_id}")),
                    description=str(properties.get("Description", "")),
                    secret_string=None if secret_string is None else str(secret_string),
                    generate=properties.get("GenerateSecretString"),
                    kms_key_id=properties.get("KmsKeyId"),
                )
            )
        return specs

    def ssm_parameters(self) -> list[SsmParameterSpec]:
        specs = []
        for logical_id, properties in self.of_type("AWS::SSM::Parameter"):
            properties = self.resolve(properties, logical_id)
            specs.append(
                SsmParameterSpec(
                    logical_id=logical_id,
                    name=self.physical(logical_id).ref,
                    value=str(properties.get("Value", "")),
                    type=str(properties.get("Type", "String")),
                    description=str(properties.get("Description", "")),
                )
            )
        return specs

    def tables(self) -> list[TableSpec]:
        specs = []
        for logical_id, properties in self.of_type(TABLE_TYPE):
            properties = self.resolve(properties, logical_id)
            name = self.physical(logical_id).ref
            kwargs, ttl, pitr = table_kwargs(logical_id, name, properties)
            specs.append(TableSpec(logical_id, name, kwargs, ttl, pitr))
        return specs

    def schedules(self) -> list[ScheduleSpec]:
        """Every function's `Type: Schedule` events (SAM's rule: `<Function><Event>`)."""
        from vmkit_local.core.schedules import rate_seconds

        rules = []
        for logical_id, properties in self.of_type(FUNCTION_TYPE):
            for event_name, event in (properties.get("Events") or {}).items():
                if event.get("Type") != "Schedule":
                    continue
                where = f"{logical_id}.Events.{event_name}"
                props = self.resolve(event.get("Properties") or {}, where)
                rule_id = f"{logical_id}{event_name}"
                rules.append(
                    ScheduleSpec(
                        function_name=self.physical(logical_id).ref,
                        rule_name=f"{self.stack_name}-{rule_id}-{self._short_id(rule_id, 12).upper()}",
                        period_s=rate_seconds(str(props.get("Schedule", "")), where),
                        enabled=props.get("Enabled", True) not in (False, "false", "False"),
                    )
                )
        return rules

    def function_roles(self) -> dict[str, FunctionRole]:
        """Each function's execution role as SAM makes it: inline statements, and SAM's
        policy templates expanded by aws-sam-translator, with intrinsics resolved."""
        return self._roles(FUNCTION_TYPE, self._function_globals())

    def state_machine_roles(self) -> dict[str, FunctionRole]:
        """Each state machine's role, from its `Policies` as for a function."""
        return self._roles(STATE_MACHINE_TYPE, {})

    def _roles(self, kind: str, global_properties: Mapping[str, Any]) -> dict[str, FunctionRole]:
        from samtranslator.policy_template_processor.processor import PolicyTemplatesProcessor

        templates = PolicyTemplatesProcessor(
            PolicyTemplatesProcessor.get_default_policy_templates_json()
        )
        roles = {}
        for logical_id, own in self.of_type(kind):
            properties = merge_globals(dict(global_properties), own)
            if "Role" in properties:
                raise TemplateError(
                    f"{logical_id}: a Role of its own is not modelled; use Policies"
                )
            policies = properties.get("Policies") or []
            documents = []
            for policy in policies if isinstance(policies, list) else [policies]:
                if isinstance(policy, dict) and "Statement" in policy:
                    document = policy
                elif isinstance(policy, dict) and len(policy) == 1 and templates.has(*policy):
                    ((name, parameters),) = policy.items()
                    document = templates.convert(name, parameters or {})
                else:  # a managed policy: what it grants is AWS's, not in the template
                    raise TemplateError(
                        f"{logical_id}: policy {policy!r} is not modelled locally; "
                        "use a SAM policy template or a Statement"
                    )
                documents.append(self.resolve(document, f"{logical_id}.Policies"))
            role_name = f"{self.stack_name}-{logical_id}Role-{self._short_id(logical_id, 12)}"
            roles[logical_id] = FunctionRole(logical_id, role_name, tuple(documents))
        return roles

    def _function_globals(self) -> dict[str, Any]:
        return dict((self.template.get("Globals") or {}).get("Function") or {})

    def functions(self) -> list[FunctionSpec]:
        global_properties = self._function_globals()
        specs = []
        for logical_id, own in self.of_type(FUNCTION_TYPE):
            properties = merge_globals(global_properties, own)
            specs.append(self._function_spec(logical_id, properties))
        return specs

    def _function_spec(self, logical_id: str, properties: dict[str, Any]) -> FunctionSpec:
        if properties.get("PackageType", "Zip") != "Zip" or "InlineCode" in properties:
            raise TemplateError(
                f"{logical_id}: only zip functions with a local CodeUri run locally"
            )
        runtime = str(self.resolve(properties.get("Runtime", ""), logical_id))
        if not runtime.startswith("python3"):
            raise TemplateError(
                f"{logical_id}: Runtime {runtime!r} cannot run in-process (python3.x only)"
            )
        code_uri = self.resolve(properties.get("CodeUri"), f"{logical_id}.CodeUri")
        handler = self.resolve(properties.get("Handler"), f"{logical_id}.Handler")
        if not isinstance(code_uri, str) or not isinstance(handler, str):
            raise TemplateError(f"{logical_id}: needs a local CodeUri path and a Handler")
        code_path = (self.base_dir / code_uri).resolve()
        if not code_path.is_dir():
            raise TemplateError(
                f"{logical_id}: CodeUri {code_uri} is not a directory under {self.base_dir}"
            )
        physical = self.physical(logical_id)
        variables = (properties.get("Environment") or {}).get("Variables") or {}
        environment = {
            key: self.rewrite_endpoints(
                env_text(self.resolve(value, f"{logical_id}.Environment.{key}"))
            )
            for key, value in variables.items()
        }
        reserved = sorted(set(environment) & RESERVED_ENV_KEYS)
        if reserved:
            raise TemplateError(
                f"{logical_id}: Lambda reserves environment key(s) {', '.join(reserved)}"
            )
        return FunctionSpec(
            logical_id=logical_id,
            name=physical.ref,
            arn=physical.attributes["Arn"],
            code_uri=code_path,
            handler=handler,
            timeout_s=int(self.resolve(properties.get("Timeout", 3), f"{logical_id}.Timeout")),
            memory_mb=int(
                self.resolve(properties.get("MemorySize", 128), f"{logical_id}.MemorySize")
            ),
            environment=environment,
            layer_paths=self._layer_paths(logical_id, properties.get("Layers") or []),
        )

    def _layer_paths(self, logical_id: str, layers: list[Any]) -> tuple[Path, ...]:
        """Local layers' content directories; foreign layer ARNs (say, Powertools') are
        skipped because the local environment already has their packages installed."""
        paths = []
        for layer in layers:
            if isinstance(layer, dict) and set(layer) == {"Ref"} and layer["Ref"] in self.resources:
                layer_properties = self.resources[layer["Ref"]].get("Properties") or {}
                content = layer_properties.get("ContentUri") or layer_properties.get("Content")
                if not isinstance(content, str):
                    raise TemplateError(
                        f"{logical_id}: layer {layer['Ref']} has no local ContentUri"
                    )
                paths.append((self.base_dir / content).resolve())
        return tuple(paths)

    def state_machines(self) -> list[StateMachineSpec]:
        """The state machines, each checked to invoke only functions its role allows."""
        roles = self.state_machine_roles()
        specs = []
        for logical_id, properties in self.of_type(STATE_MACHINE_TYPE):
            definition = self._state_machine_definition(logical_id, properties)
            substitutions = {
                key: self.rewrite_endpoints(env_text(value))
                for key, value in self.resolve(
                    properties.get("DefinitionSubstitutions") or {},
                    f"{logical_id}.DefinitionSubstitutions",
                ).items()
            }
            definition = substitute_definition(definition, substitutions)
            self._check_invocations(roles[logical_id], definition)
            physical = self.physical(logical_id)
            specs.append(
                StateMachineSpec(
                    logical_id=logical_id,
                    name=physical.attributes["Name"],
                    arn=physical.ref,
                    definition=json.dumps(definition),
                    type=str(self.resolve(properties.get("Type", "STANDARD"), logical_id)),
                )
            )
        return specs

    def _check_invocations(self, role: FunctionRole, definition: Any) -> None:
        """Refuse a Lambda task its machine's role does not allow.

        On AWS the execution would fail at that state, when it first runs, with
        `Lambda.AWSLambdaException` (not authorized to perform lambda:InvokeFunction);
        moto's executor invokes with no identity of the machine's, so the check is made
        here, before any execution, for every state of every branch.
        """
        for state, function in lambda_tasks(definition):
            arn = function if function.startswith("arn:") else self._function_arn(function)
            if not role.allows("lambda:InvokeFunction", arn):
                name = arn.split(":function:", 1)[-1].split(":", 1)[0]
                raise TemplateError(
                    f"{role.function}: state {state!r} invokes {name}, which the state "
                    f"machine's role does not allow (lambda:InvokeFunction on {arn}); add "
                    f"LambdaInvokePolicy for that function to {role.function}'s Policies"
                )

    def _function_arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"

    def _state_machine_definition(self, logical_id: str, properties: Mapping[str, Any]) -> Any:
        if "Definition" in properties:
            return properties["Definition"]
        if "DefinitionString" in properties:
            return json.loads(str(self.resolve(properties["DefinitionString"], logical_id)))
        uri = properties.get("DefinitionUri")
        if not isinstance(uri, str):
            raise TemplateError(f"{logical_id}: needs Definition or a local DefinitionUri file")
        path = self.base_dir / uri
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise TemplateError(f"{logical_id}: cannot read DefinitionUri {uri}: {exc}") from exc

    def websocket_apis(self) -> list[WebSocketApiSpec]:
        if self._websocket_apis is None:
            self._websocket_apis = read_websocket_apis(self)
        return self._websocket_apis
