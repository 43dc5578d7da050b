"""Creating the template's resources in moto, through the same APIs CloudFormation uses."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from vmkit_local.core import moto_state
from vmkit_local.core.resources import FunctionSpec, SecretSpec
from vmkit_local.core.stackspec import StackSpec

log = logging.getLogger(__name__)

ClientFactory = Callable[[str], Any]

# State machines and functions need a role ARN; nothing checks what it allows locally.
EXECUTION_ROLE_NAME = "vmkit-local-execution"


@dataclass(frozen=True)
class Provisioned:
    functions: list[FunctionSpec]
    # KMS key id → key material in use, for the data directory.
    kms_material: dict[str, bytes]


def provision(
    spec: StackSpec, client: ClientFactory, kms_material: Mapping[str, bytes]
) -> Provisioned:
    """Create every resource of the template.

    `kms_material` (key id → material) comes from the data directory, so a restarted
    stack decrypts what it encrypted before. Secrets come before functions because a
    function's environment may hold a secret's ARN, known only once it exists.
    """
    material = _create_kms_keys(spec, client("kms"), kms_material)
    _create_secrets(spec, client("secretsmanager"))
    _create_ssm_parameters(spec, client("ssm"))
    _create_tables(spec, client("dynamodb"))
    _create_buckets(spec, client("s3"))
    role_arn = _create_execution_role(client("iam"))
    functions = spec.functions()
    _register_functions(functions, client("lambda"), role_arn)
    _create_state_machines(spec, client("stepfunctions"), role_arn)
    return Provisioned(functions, material)


def _create_kms_keys(spec: StackSpec, kms: Any, saved: Mapping[str, bytes]) -> dict[str, bytes]:
    material = {}
    for key in spec.kms_keys():
        created = kms.create_key(
            Description=key.description, KeyUsage=key.key_usage, KeySpec=key.key_spec
        )
        material[key.key_id] = moto_state.adopt_kms_key(
            spec.account_id,
            spec.region,
            created["KeyMetadata"]["KeyId"],
            key.key_id,
            saved.get(key.key_id),
        )
    for alias in spec.kms_aliases():
        kms.create_alias(AliasName=alias.alias_name, TargetKeyId=alias.target_key_id)
    return material


def _generated_secret(secretsmanager: Any, secret: SecretSpec) -> str:
    """CloudFormation's GenerateSecretString, through Secrets Manager's own generator."""
    options = dict(secret.generate or {})
    template = options.pop("SecretStringTemplate", None)
    key = options.pop("GenerateStringKey", None)
    allowed = {
        "PasswordLength", "ExcludeCharacters", "ExcludeNumbers", "ExcludePunctuation",
        "ExcludeUppercase", "ExcludeLowercase", "IncludeSpace", "RequireEachIncludedType",
    }  # fmt: skip
    password = secretsmanager.get_random_password(
        **{k: v for k, v in options.items() if k in allowed}
    )["RandomPassword"]
    if template is None:
        return password
    document = json.loads(template)
    document[key] = password
    return json.dumps(document)


def _create_secrets(spec: StackSpec, secretsmanager: Any) -> None:
    for secret in spec.secrets():
        value = secret.secret_string
        if value is None:
            value = _generated_secret(secretsmanager, secret) if secret.generate else ""
        kwargs: dict[str, Any] = {"Name": secret.name, "Description": secret.description}
        if value:
            kwargs["SecretString"] = value
        if secret.kms_key_id:
            kwargs["KmsKeyId"] = secret.kms_key_id
        arn = secretsmanager.create_secret(**kwargs)["ARN"]
        spec.record(secret.logical_id, arn, Id=arn)


def _create_ssm_parameters(spec: StackSpec, ssm: Any) -> None:
    for parameter in spec.ssm_parameters():
        ssm.put_parameter(
            Name=parameter.name,
            Value=parameter.value,
            Type=parameter.type,
            Description=parameter.description,
            Overwrite=True,
        )


def _create_tables(spec: StackSpec, dynamodb: Any) -> None:
    for table in spec.tables():
        dynamodb.create_table(**table.create_table_kwargs)
        if table.ttl_attribute:
            dynamodb.update_time_to_live(
                TableName=table.name,
                TimeToLiveSpecification={"AttributeName": table.ttl_attribute, "Enabled": True},
            )
        if table.point_in_time_recovery:
            dynamodb.update_continuous_backups(
                TableName=table.name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )


def _create_buckets(spec: StackSpec, s3: Any) -> None:
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for name in spec.buckets():
        if name not in existing:
            region = spec.region
            kwargs = (
                {}
                if region == "us-east-1"
                else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            )
            s3.create_bucket(Bucket=name, **kwargs)


def _create_execution_role(iam: Any) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = iam.create_role(RoleName=EXECUTION_ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust))
    return role["Role"]["Arn"]


def _placeholder_zip() -> bytes:
    """Lambda's CreateFunction wants code; the router runs the real code from CodeUri."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "Runs in-process from the template's CodeUri.\n")
    return buffer.getvalue()


def _register_functions(functions: list[FunctionSpec], lambda_client: Any, role_arn: str) -> None:
    """So `GetFunction`/`ListFunctions` show the template's functions, as on AWS."""
    code = _placeholder_zip()
    for function in functions:
        lambda_client.create_function(
            FunctionName=function.name,
            Runtime="python3.11",
            Role=role_arn,
            Handler=function.handler,
            Code={"ZipFile": code},
            Timeout=function.timeout_s,
            MemorySize=function.memory_mb,
            Environment={"Variables": dict(function.environment)},
        )


def _create_state_machines(spec: StackSpec, stepfunctions: Any, role_arn: str) -> None:
    for machine in spec.state_machines():
        stepfunctions.create_state_machine(
            name=machine.name, definition=machine.definition, roleArn=role_arn, type=machine.type
        )
