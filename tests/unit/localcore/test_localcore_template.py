"""Reading SAM templates: short-form tags, intrinsics, parameters, and what the stack builds."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from vmkit_local.core.errors import TemplateError
from vmkit_local.core.stackspec import LocalUrls, StackSpec
from vmkit_local.core.template import load_template

FIXTURE = Path(__file__).parents[2] / "fixtures" / "localcore" / "template.yaml"
URLS = LocalUrls(
    "ws://127.0.0.1:1001", "http://127.0.0.1:1002", {"HttpApi": "http://127.0.0.1:1003"}
)


def write_template(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent(body))
    return path


def minimal(tmp_path: Path, resources: str, parameters: str = "", globals_: str = "") -> Path:
    (tmp_path / "fn").mkdir(exist_ok=True)
    (tmp_path / "fn" / "app.py").write_text("def handler(event, context):\n    return event\n")
    return write_template(
        tmp_path,
        "Transform: AWS::Serverless-2016-10-31\n"
        + (
            f"Parameters:\n{textwrap.indent(textwrap.dedent(parameters), '  ')}\n"
            if parameters
            else ""
        )
        + (f"Globals:\n{textwrap.indent(textwrap.dedent(globals_), '  ')}\n" if globals_ else "")
        + f"Resources:\n{textwrap.indent(textwrap.dedent(resources), '  ')}\n",
    )


FUNCTION = """
Fn:
  Type: AWS::Serverless::Function
  Properties:
    CodeUri: fn
    Handler: app.handler
    Runtime: python3.11
"""


def spec_of(path: Path, **kwargs) -> StackSpec:
    default_urls = URLS if path == FIXTURE else None
    return StackSpec(path, local_urls=kwargs.pop("local_urls", default_urls), **kwargs)


# ----- YAML and intrinsics


def test_short_form_tags_become_intrinsic_functions(tmp_path):
    path = write_template(
        tmp_path,
        """
        Resources:
          A:
            Type: X
            Properties:
              Ref: !Ref B
              Sub: !Sub "${B}-x"
              SubList: !Sub ["${x}", {x: !Ref B}]
              Att: !GetAtt B.Arn
              AttList: !GetAtt [B, Arn]
              Join: !Join [",", [a, !Ref B]]
              If: !If [Cond, a, b]
        """,
    )

    properties = load_template(path)["Resources"]["A"]["Properties"]

    assert properties["Ref"] == {"Ref": "B"}
    assert properties["Sub"] == {"Fn::Sub": "${B}-x"}
    assert properties["SubList"] == {"Fn::Sub": ["${x}", {"x": {"Ref": "B"}}]}
    assert properties["Att"] == properties["AttList"] == {"Fn::GetAtt": ["B", "Arn"]}
    assert properties["Join"] == {"Fn::Join": [",", ["a", {"Ref": "B"}]]}
    assert properties["If"] == {"Fn::If": ["Cond", "a", "b"]}


def test_file_without_resources_is_refused(tmp_path):
    with pytest.raises(TemplateError, match="no Resources"):
        load_template(write_template(tmp_path, "Parameters: {}\n"))


def test_broken_yaml_is_refused_with_the_path(tmp_path):
    path = write_template(tmp_path, "Resources: [unclosed\n")

    with pytest.raises(TemplateError, match=str(path)):
        load_template(path)


def test_intrinsics_resolve_against_local_names(tmp_path):
    spec = spec_of(minimal(tmp_path, FUNCTION, parameters="Stage: {Type: String, Default: prod}"))

    assert spec.resolve(
        {"Fn::Sub": "${AWS::Region}/${Stage}/${Fn}/${Fn.Arn}/${!Literal}"}, "t"
    ) == (
        "us-east-1/prod/vmkit-local-Fn/arn:aws:lambda:us-east-1:123456789012:function:vmkit-local-Fn/${Literal}"
    )
    assert (
        spec.resolve({"Fn::Sub": ["${a}-${Stage}", {"a": {"Ref": "AWS::AccountId"}}]}, "t")
        == "123456789012-prod"
    )
    assert spec.resolve({"Fn::Join": ["-", ["a", {"Ref": "Stage"}]]}, "t") == "a-prod"
    assert spec.resolve({"Fn::Select": [1, {"Fn::Split": [",", "x,y,z"]}]}, "t") == "y"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"Fn::If": ["C", "a", "b"]}, "Fn::If is not supported"),
        ({"Fn::ImportValue": "x"}, "Fn::ImportValue is not supported"),
        ({"Ref": "Missing"}, "Missing, which is not in the template"),
        ({"Fn::GetAtt": ["Fn", "Nope"]}, "does not model attribute Nope"),
        ({"Fn::Join": ["-"]}, "takes a list of two items"),
        ({"Fn::Select": [5, ["a"]]}, "Fn::Select"),
        ({"Fn::Sub": 3}, "takes a string or"),
    ],
)
def test_unsupported_or_broken_intrinsics_say_where(tmp_path, value, message):
    spec = spec_of(minimal(tmp_path, FUNCTION))

    with pytest.raises(TemplateError, match=message):
        spec.resolve({"Wrapper": value}, "Fn.Environment")


def test_resources_with_conditions_are_refused(tmp_path):
    path = minimal(
        tmp_path,
        FUNCTION.replace(
            "  Type: AWS::Serverless::Function",
            "  Type: AWS::Serverless::Function\n  Condition: IsProd",
        ),
    )

    with pytest.raises(TemplateError, match="Fn: resource Conditions"):
        spec_of(path)


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        (
            "Queue: {Type: 'AWS::SQS::Queue'}",
            "Queue: the local stack does not build AWS::SQS::Queue",
        ),
        (
            "Table: {Type: 'AWS::Serverless::SimpleTable'}",
            "does not build AWS::Serverless::SimpleTable",
        ),
        (
            "Api: {Type: 'AWS::ApiGatewayV2::Api', Properties: {ProtocolType: HTTP}}",
            "Api: the local stack builds WebSocket APIs only, not HTTP",
        ),
    ],
)
def test_resource_types_the_stack_does_not_build_are_refused_by_name(tmp_path, resource, message):
    path = minimal(tmp_path, FUNCTION + resource + "\n")

    with pytest.raises(TemplateError, match=message):
        spec_of(path)


# ----- parameters


def test_parameter_defaults_and_overrides(tmp_path):
    parameters = """
    Stage: {Type: String, Default: prod, AllowedValues: [prod, dev]}
    Size: {Type: Number, Default: 3}
    Zones: {Type: CommaDelimitedList, Default: "a,b"}
    """
    path = minimal(tmp_path, FUNCTION, parameters=parameters)

    assert spec_of(path).parameters == {"Stage": "prod", "Size": "3", "Zones": ["a", "b"]}
    assert spec_of(path, parameter_overrides={"Stage": "dev"}).parameters["Stage"] == "dev"


@pytest.mark.parametrize(
    ("parameters", "overrides", "message"),
    [
        ("Stage: {Type: String}", {}, "Stage has no Default"),
        ("Stage: {Type: String, Default: a}", {"Nope": "x"}, "Nope not declared"),
        (
            "Stage: {Type: String, Default: a, AllowedValues: [a, b]}",
            {"Stage": "c"},
            "is not one of",
        ),
        (
            "Name: {Type: String, Default: a, AllowedPattern: '[a-z]+'}",
            {"Name": "A1"},
            "does not match",
        ),
        ("Size: {Type: Number, Default: 1}", {"Size": "big"}, "is not a Number"),
        ("Ami: {Type: 'AWS::SSM::Parameter::Value<String>', Default: /x}", {}, "override it"),
    ],
)
def test_bad_parameters_are_refused(tmp_path, parameters, overrides, message):
    path = minimal(tmp_path, FUNCTION, parameters=parameters)

    with pytest.raises(TemplateError, match=message):
        spec_of(path, parameter_overrides=overrides)


# ----- the fixture template, read as the stack reads it


def test_functions_merge_globals_and_get_local_urls():
    functions = {function.logical_id: function for function in spec_of(FIXTURE).functions()}

    echo = functions["EchoFunction"]
    assert echo.name == "vmkit-local-EchoFunction"
    assert (echo.timeout_s, echo.memory_mb) == (5, 256)  # own Timeout, Globals MemorySize
    assert echo.code_uri == FIXTURE.parent / "functions" / "echo"
    assert echo.layer_paths == (FIXTURE.parent / "layers" / "fixturelib",)
    assert echo.environment["GREETING"] == "hello"
    assert echo.environment["TABLE_NAME"] == "vmkit-local-Table"
    assert echo.environment["WS_MANAGEMENT_URL"] == "http://127.0.0.1:1002/production"
    assert echo.environment["REST_URL"] == "http://127.0.0.1:1003"
    assert echo.environment["EXTERNAL_API_URL"] == "https://api.example.invalid/v1"
    assert functions["RecordTokenFunction"].name == "vmkit-local-record-token"
    assert functions["WsAuthorizerFunction"].environment["AGENT_TOKEN"] == "good-token"


def test_tables_keys_and_aliases():
    spec = spec_of(FIXTURE)

    (table,) = spec.tables()
    assert table.name == "vmkit-local-Table"
    assert table.ttl_attribute == "expires_at"
    assert table.point_in_time_recovery
    assert [
        index["IndexName"] for index in table.create_table_kwargs["GlobalSecondaryIndexes"]
    ] == [
        "gsi1",
        "by-connection",
    ]
    (key,) = spec.kms_keys()
    assert key.key_id == StackSpec(FIXTURE).kms_keys()[0].key_id  # the same id on every start
    (alias,) = spec.kms_aliases()
    assert (alias.alias_name, alias.target_key_id) == ("alias/vmkit-local-data", key.key_id)


def test_state_machines_get_their_definition_file_with_substitutions():
    machines = {machine.logical_id: machine for machine in spec_of(FIXTURE).state_machines()}

    waiting = json.loads(machines["WaitingStateMachine"].definition)
    task = waiting["States"]["WaitForAgent"]
    assert task["Parameters"]["FunctionName"] == (
        "arn:aws:lambda:us-east-1:123456789012:function:vmkit-local-record-token"
    )
    assert machines["RetryingStateMachine"].name == "vmkit-local-retrying"


def test_websocket_api_routes_authorizer_and_route_responses():
    (api,) = spec_of(FIXTURE).websocket_apis()

    assert api.stage == "production"
    assert api.route_selection_expression == "$request.body.action"
    assert {key: route.function_name for key, route in api.routes.items()} == {
        "$connect": "vmkit-local-WsConnectFunction",
        "$disconnect": "vmkit-local-WsDisconnectFunction",
        "$default": "vmkit-local-WsDefaultFunction",
        "echo": "vmkit-local-WsDefaultFunction",
    }
    assert [key for key, route in api.routes.items() if route.returns_response] == ["echo"]
    assert api.authorizer.function_name == "vmkit-local-WsAuthorizerFunction"
    assert api.authorizer.identity_sources == ("route.request.header.Authorization",)


def test_endpoint_urls_of_the_stack_are_rewritten_and_others_kept():
    spec = spec_of(FIXTURE)
    (api,) = spec.websocket_apis()
    http_api = spec.physical("HttpApi").ref

    assert spec.rewrite_endpoints(
        f"wss://{api.api_id}.execute-api.us-east-1.amazonaws.com/production"
    ) == ("ws://127.0.0.1:1001/production")
    assert spec.rewrite_endpoints(
        f"https://{http_api}.execute-api.us-east-1.amazonaws.com/api/x"
    ) == ("http://127.0.0.1:1003/api/x")
    other = "https://abcdefghij.execute-api.us-east-1.amazonaws.com/prod"
    assert spec.rewrite_endpoints(other) == other


def test_function_url_is_rewritten_to_the_root_of_the_app_playing_it(tmp_path):
    resources = FUNCTION.replace(
        "    Runtime: python3.11",
        "    Runtime: python3.11\n    FunctionUrlConfig: {AuthType: NONE}",
    )
    resources += """
Other:
  Type: AWS::Serverless::Function
  Properties:
    CodeUri: fn
    Handler: app.handler
    Runtime: python3.11
    Environment:
      Variables:
        MCP_URL: !Sub "${FnUrl.FunctionUrl}mcp"
"""
    spec = spec_of(
        minimal(tmp_path, resources), local_urls=LocalUrls(api_urls={"Fn": "http://127.0.0.1:9"})
    )

    other = next(function for function in spec.functions() if function.logical_id == "Other")

    assert other.environment["MCP_URL"] == "http://127.0.0.1:9/mcp"


# ----- what cannot run locally


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("Runtime: python3.11", "Runtime: nodejs20.x"), "cannot run in-process"),
        (("CodeUri: fn", "CodeUri: missing"), "is not a directory"),
        (("CodeUri: fn", "InlineCode: x"), "only zip functions"),
    ],
)
def test_functions_that_cannot_run_in_process_are_refused(tmp_path, change, message):
    path = minimal(tmp_path, FUNCTION.replace(*change))

    with pytest.raises(TemplateError, match=message):
        spec_of(path).functions()


def test_reserved_lambda_environment_keys_are_refused(tmp_path):
    path = minimal(
        tmp_path,
        FUNCTION,
        globals_="Function:\n  Environment:\n    Variables:\n      AWS_REGION: x\n",
    )

    with pytest.raises(TemplateError, match="reserves environment key"):
        spec_of(path).functions()


def test_app_url_for_an_unknown_resource_is_refused(tmp_path):
    with pytest.raises(TemplateError, match="Nope, not in the template"):
        spec_of(minimal(tmp_path, FUNCTION), local_urls=LocalUrls(api_urls={"Nope": "http://x"}))
