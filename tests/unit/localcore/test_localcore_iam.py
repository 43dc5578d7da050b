"""Each function's calls are held to its own role from template.yaml, as IAM would hold
them: the policies SAM makes (policy templates expanded by aws-sam-translator), the
action and resource ARN each call needs, and AWS's AccessDenied when none allows it."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from tests.unit.localcore.test_localcore_template import FUNCTION, minimal, spec_of
from vmkit_local.core.errors import TemplateError
from vmkit_local.core.iam import AccountResources, LocalIam, UnmodelledCall, acting_as
from vmkit_local.core.stackspec import StackSpec
from vmkit_local.embedded import TEMPLATE

REGION, ACCOUNT = "us-east-1", "123456789012"


@pytest.fixture(scope="module")
def spec() -> StackSpec:
    return StackSpec(TEMPLATE, stack_name="vmkit", region=REGION, account_id=ACCOUNT)


@pytest.fixture
def iam(spec):
    keys = {k.arn: k.arn for k in spec.kms_keys()}
    (api,) = spec.websocket_apis()
    enforced = LocalIam(
        spec.function_roles(),
        AccountResources(REGION, ACCOUNT, kms_key_arns=keys, websocket_api=(api.api_id, api.stage)),
    )
    enforced.install()
    yield enforced
    enforced.uninstall()


def call_as(function: str, service: str, method: str, response: dict, **params):
    """`function` makes one call; the AWS side answers `response` if IAM lets it through."""
    client = boto3.client(
        service, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:
        stub.add_response(method, response)
        token = acting_as.set(function)
        try:
            return getattr(client, method)(**params)
        finally:
            acting_as.reset(token)


def table(spec) -> str:
    return spec.physical("Table").ref


def test_a_read_only_role_reads_the_table_and_is_refused_a_write(iam, spec):
    call_as("WsAuthorizerFunction", "dynamodb", "get_item", {}, TableName=table(spec), Key={})
    with pytest.raises(ClientError) as refused:
        call_as("WsAuthorizerFunction", "dynamodb", "put_item", {}, TableName=table(spec), Item={})
    error = refused.value.response["Error"]
    assert error["Code"] == "AccessDeniedException"
    assert "assumed-role/vmkit-WsAuthorizerFunctionRole-" in error["Message"]
    assert (
        f"dynamodb:PutItem on resource: arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/"
        in (error["Message"])
    )


def test_a_transaction_needs_each_of_its_actions_on_each_table(iam, spec):
    items = [{"Put": {"TableName": table(spec), "Item": {}}}]
    call_as("ApiFunction", "dynamodb", "transact_write_items", {}, TransactItems=items)
    with pytest.raises(ClientError, match="dynamodb:PutItem"):
        call_as("WsAuthorizerFunction", "dynamodb", "transact_write_items", {}, TransactItems=items)


def test_task_token_callbacks_are_granted_on_every_resource(iam):
    """SendTask* take no resource: a policy naming a state machine does not grant them."""
    call_as("WebhookFunction", "stepfunctions", "send_task_success", {}, taskToken="t", output="{}")
    with pytest.raises(ClientError, match="states:SendTaskSuccess on resource: \\*"):
        call_as("ApiFunction", "stepfunctions", "send_task_success", {}, taskToken="t", output="{}")


def test_the_rest_api_may_read_the_agent_build_it_offers_for_upgrade(iam, spec):
    bucket = spec.physical("AgentArtifacts").ref
    call_as("ApiFunction", "s3", "head_object", {}, Bucket=bucket, Key="agent/vmkit-agent.pyz")
    with pytest.raises(ClientError) as refused:
        call_as("WebhookFunction", "s3", "head_object", {}, Bucket=bucket, Key="agent/x")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"


def test_the_sweeper_may_do_what_its_sweep_does(iam, spec):
    execution = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:vmkit-deploy:dep_1"
    machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:vmkit-deploy"
    described = {"executionArn": execution, "stateMachineArn": machine, "status": "RUNNING"}
    described["startDate"] = datetime.now(UTC)
    call_as(
        "ReconcileFunction",
        "stepfunctions",
        "describe_execution",
        described,
        executionArn=execution,
    )
    stopped = {"stopDate": datetime.now(UTC)}
    call_as("ReconcileFunction", "stepfunctions", "stop_execution", stopped, executionArn=execution)
    key = spec.kms_keys()[0].arn
    call_as("ReconcileFunction", "kms", "decrypt", {}, CiphertextBlob=b"x", KeyId=key)


def test_calls_outside_any_function_are_the_operators_and_unchecked(iam, spec):
    client = boto3.client(
        "dynamodb", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:
        stub.add_response("put_item", {})
        client.put_item(TableName=table(spec), Item={})


def test_a_call_whose_resource_is_not_modelled_says_where_to_add_it(iam):
    with pytest.raises(UnmodelledCall, match="sqs:SendMessage"):
        call_as("ApiFunction", "sqs", "send_message", {}, QueueUrl="https://q", MessageBody="x")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("Policies: [AmazonS3FullAccess]", "policy 'AmazonS3FullAccess' is not modelled"),
        ("Role: arn:aws:iam::1:role/r", "a Role of its own is not modelled"),
    ],
)
def test_a_managed_policy_or_a_role_of_its_own_is_refused_by_name(tmp_path, extra, message):
    path = minimal(tmp_path, FUNCTION + f"    {extra}\n")
    with pytest.raises(TemplateError, match=message):
        spec_of(path).function_roles()


def test_every_lambda_task_of_both_state_machines_is_allowed_by_its_role():
    spec = StackSpec(TEMPLATE, stack_name="vmkit", region=REGION, account_id=ACCOUNT)
    machines = {machine.logical_id for machine in spec.state_machines()}  # checks, or raises
    assert machines == {"DeployStateMachine", "TeardownStateMachine"}


def test_a_state_machine_that_may_not_invoke_one_of_its_functions_is_refused():
    """On AWS the teardown would fail at MarkFailed, the first time a teardown failed."""
    spec = StackSpec(TEMPLATE, stack_name="vmkit", region=REGION, account_id=ACCOUNT)
    machine = spec.resources["TeardownStateMachine"] = dict(spec.resources["TeardownStateMachine"])
    properties = machine["Properties"] = dict(machine["Properties"])
    properties["Policies"] = [
        policy
        for policy in properties["Policies"]
        if policy != {"LambdaInvokePolicy": {"FunctionName": {"Ref": "MarkFailedFunction"}}}
    ]
    assert len(properties["Policies"]) == 5

    with pytest.raises(TemplateError) as refused:
        spec.state_machines()
    message = str(refused.value)
    assert message.startswith(
        "TeardownStateMachine: state 'MarkFailed' invokes vmkit-MarkFailedFunction"
    )
    assert "lambda:InvokeFunction on arn:aws:lambda:us-east-1:123456789012:function:" in message
    assert "add LambdaInvokePolicy for that function to TeardownStateMachine's Policies" in message
