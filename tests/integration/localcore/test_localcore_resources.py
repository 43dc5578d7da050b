"""The template's resources exist in the local AWS, as `sam deploy` would create them."""

from __future__ import annotations

import json

import httpx


def test_table_has_the_templates_keys_indexes_and_ttl(aws):
    dynamodb = aws("dynamodb")
    table = dynamodb.describe_table(TableName="vmkit-local-Table")["Table"]

    assert {key["AttributeName"]: key["KeyType"] for key in table["KeySchema"]} == {
        "pk": "HASH",
        "sk": "RANGE",
    }
    indexes = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"gsi1", "by-connection"}
    assert indexes["by-connection"]["Projection"]["ProjectionType"] == "KEYS_ONLY"
    ttl = dynamodb.describe_time_to_live(TableName="vmkit-local-Table")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


def test_kms_alias_encrypts_with_the_templates_key(aws, local_stack):
    kms = aws("kms")
    data_key = kms.generate_data_key(KeyId="alias/vmkit-local-data", KeySpec="AES_256")

    plain = kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"]

    assert plain == data_key["Plaintext"]
    key = kms.describe_key(KeyId="alias/vmkit-local-data")["KeyMetadata"]
    assert data_key["KeyId"] == key["Arn"]
    assert key["Description"] == "Envelope encryption of stored credentials"


def test_generated_secret_follows_its_template(aws):
    secret = aws("secretsmanager").get_secret_value(SecretId="vmkit-local/model-api-key")

    document = json.loads(secret["SecretString"])
    assert document["provider"] == "anthropic"
    assert len(document["api_key"]) == 40
    assert document["api_key"].isalnum()  # ExcludePunctuation


def test_secret_values_from_the_config_replace_generated_ones(aws, local_stack):
    secret = aws("secretsmanager").get_secret_value(SecretId="vmkit-local/github-webhook-secret")

    assert secret["SecretString"] == local_stack.github_webhook_secret


def test_ssm_parameter_exists(aws):
    parameter = aws("ssm").get_parameter(Name="/vmkit-local/apps-domain")["Parameter"]

    assert parameter["Value"] == "apps.localhost"


def test_state_machine_definition_has_its_substitutions(aws):
    machine = aws("stepfunctions").describe_state_machine(
        stateMachineArn="arn:aws:states:us-east-1:123456789012:stateMachine:vmkit-local-retrying"
    )
    task = json.loads(machine["definition"])["States"]["Attempt"]

    assert task["Parameters"]["FunctionName"] == (
        "arn:aws:lambda:us-east-1:123456789012:function:vmkit-local-FailingFunction"
    )


def test_mounted_app_is_imported_after_the_environment_is_set(local_stack):
    body = httpx.get(f"{local_stack.app_urls['rest']}/api/health").json()

    assert body == {
        "path": "/api/health",
        "table_name": "vmkit-local-Table",
        "aws_endpoint_url": local_stack.aws_url,
    }


def test_state_file_holds_the_urls_and_the_hooks_values(local_stack):
    written = json.loads(local_stack.state_file.read_text())

    assert written["ws_url"] == local_stack.ws_url
    assert written["rest_url"] == local_stack.app_urls["rest"]
    assert written["aws_endpoint_url"] == local_stack.aws_url
    assert written["apps_url"] == "http://apps.localhost:9"  # from the extra service
    assert written["api_key"] == "vmk_fixture_bootstrap"  # from the on_ready hook
    assert len(written["github_webhook_secret"]) >= 32
    assert written["pid"] == local_stack.pid
