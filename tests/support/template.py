"""Read template.yaml so tests build AWS resources from the same definition AWS gets."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


class _CfnLoader(yaml.SafeLoader):
    pass


def _any_tag(loader: yaml.Loader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {f"Fn::{tag_suffix}" if tag_suffix not in ("Ref",) else "Ref": value}


_CfnLoader.add_multi_constructor("!", _any_tag)


@cache
def template() -> dict[str, Any]:
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=_CfnLoader)  # noqa: S506


def create_table(client: Any, name: str) -> None:
    props = template()["Resources"]["Table"]["Properties"]
    client.create_table(
        TableName=name,
        BillingMode=props["BillingMode"],
        AttributeDefinitions=props["AttributeDefinitions"],
        KeySchema=props["KeySchema"],
        GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"],
    )
    ttl = props["TimeToLiveSpecification"]
    client.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)


def create_state_machines(client: Any) -> dict[str, str]:
    """The state machines of template.yaml, their Lambda ARNs pointing at nothing.

    For unit tests, where executions start but do not run (moto's default).
    """
    arns = {}
    for name, resource in template()["Resources"].items():
        if resource["Type"] != "AWS::Serverless::StateMachine":
            continue
        props = resource["Properties"]
        definition = (ROOT / props["DefinitionUri"]).read_text()
        for key in props.get("DefinitionSubstitutions", {}):
            definition = definition.replace(
                "${" + key + "}", f"arn:aws:lambda:eu-central-1:123456789012:function:{key}"
            )
        arns[name] = client.create_state_machine(
            name=name, definition=definition, roleArn="arn:aws:iam::123456789012:role/vmkit-test"
        )["stateMachineArn"]
    return arns
