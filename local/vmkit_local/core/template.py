"""Reading a SAM template: YAML with CloudFormation's short-form tags, and intrinsics.

The local stack is built from `template.yaml` itself, so this module has to read what
`sam deploy` reads. It covers the subset a serverless template like ours uses:
`Ref`, `Fn::Sub` (both forms), `Fn::GetAtt` (both forms), `Fn::Join`, `Fn::Select`,
`Fn::Split`. Conditions (`Fn::If` and friends), `Fn::ImportValue`, `Fn::FindInMap`
and the rest are refused with an error that says where they were met, instead of
being guessed at.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from vmkit_local.core.errors import TemplateError

_SHORT_FORMS = {
    "Ref": "Ref",
    "Condition": "Condition",
    "GetAtt": "Fn::GetAtt",
    **{
        name: f"Fn::{name}"
        for name in (
            *("Sub", "Join", "Select", "Split", "If", "Equals", "Not", "And", "Or", "FindInMap"),
            *("Base64", "Cidr", "ImportValue", "GetAZs", "Transform", "Length", "ToJsonString"),
        )
    },
}


class _TemplateLoader(yaml.SafeLoader):
    """SafeLoader that turns `!Ref x` into `{"Ref": "x"}` and so on, as CloudFormation does."""


def _make_constructor(full_name: str) -> Callable[[yaml.Loader, yaml.Node], Any]:
    def construct(loader: yaml.Loader, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if full_name == "Fn::GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {full_name: value}

    return construct


for _short, _full in _SHORT_FORMS.items():
    _TemplateLoader.add_constructor(f"!{_short}", _make_constructor(_full))


def load_template(path: Path) -> dict[str, Any]:
    """Parse a SAM/CloudFormation YAML (or JSON) template into plain dicts."""
    try:
        document = yaml.load(path.read_text(), Loader=_TemplateLoader)  # noqa: S506 (SafeLoader subclass)
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateError(f"cannot read template {path}: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise TemplateError(f"{path} is not a CloudFormation template (no Resources section)")
    return document


_SUB_VARIABLE = re.compile(r"\$\{([^}]+)\}")


class Resolver:
    """Evaluates intrinsic functions against local values.

    `ref` and `get_att` are callbacks owned by whoever knows the physical resources
    (the stack builder), so this class knows only the rules of the functions.
    """

    def __init__(
        self,
        *,
        parameters: Mapping[str, Any],
        pseudo: Mapping[str, Any],
        ref: Callable[[str], Any],
        get_att: Callable[[str, str], Any],
    ):
        self._parameters = parameters
        self._pseudo = pseudo
        self._ref = ref
        self._get_att = get_att

    def resolve(self, value: Any, where: str) -> Any:
        """Resolve every intrinsic inside `value`; `where` names the spot for error messages."""
        if isinstance(value, list):
            return [self.resolve(item, where) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, argument) = next(iter(value.items()))
            if key == "Ref":
                return self._resolve_ref(argument, where)
            if key.startswith("Fn::") or key == "Condition":
                return self._resolve_function(key, argument, where)
        return {key: self.resolve(item, f"{where}.{key}") for key, item in value.items()}

    def _resolve_ref(self, name: Any, where: str) -> Any:
        if not isinstance(name, str):
            raise TemplateError(f"{where}: Ref takes a name, got {name!r}")
        if name in self._pseudo:
            return self._pseudo[name]
        if name in self._parameters:
            return self._parameters[name]
        return self._ref(name)

    def _resolve_function(self, key: str, argument: Any, where: str) -> Any:
        if key == "Fn::Sub":
            return self._sub(argument, where)
        if key == "Fn::GetAtt":
            logical_id, attribute = self._getatt_parts(argument, where)
            return self._get_att(logical_id, attribute)
        if key == "Fn::Join":
            delimiter, items = self._pair(argument, key, where)
            return str(delimiter).join(str(item) for item in self.resolve(items, where))
        if key == "Fn::Select":
            index, items = self._pair(argument, key, where)
            items = self.resolve(items, where)
            try:
                return items[int(self.resolve(index, where))]
            except (IndexError, ValueError, TypeError) as exc:
                raise TemplateError(f"{where}: Fn::Select {argument!r} failed: {exc}") from exc
        if key == "Fn::Split":
            delimiter, source = self._pair(argument, key, where)
            return str(self.resolve(source, where)).split(delimiter)
        raise TemplateError(
            f"{where}: {key} is not supported by the local stack "
            "(supported: Ref, Fn::Sub, Fn::GetAtt, Fn::Join, Fn::Select, Fn::Split)"
        )

    @staticmethod
    def _pair(argument: Any, key: str, where: str) -> tuple[Any, Any]:
        if not isinstance(argument, list) or len(argument) != 2:
            raise TemplateError(f"{where}: {key} takes a list of two items, got {argument!r}")
        return argument[0], argument[1]

    def _getatt_parts(self, argument: Any, where: str) -> tuple[str, str]:
        if isinstance(argument, str):
            argument = argument.split(".", 1)
        if not isinstance(argument, list) or len(argument) != 2:
            raise TemplateError(f"{where}: Fn::GetAtt takes 'Resource.Attribute', got {argument!r}")
        return str(argument[0]), str(self.resolve(argument[1], where))

    def _sub(self, argument: Any, where: str) -> str:
        if isinstance(argument, str):
            text, variables = argument, {}
        elif isinstance(argument, list) and len(argument) == 2 and isinstance(argument[1], dict):
            text, variables = argument[0], self.resolve(argument[1], where)
        else:
            raise TemplateError(
                f"{where}: Fn::Sub takes a string or [string, map], got {argument!r}"
            )

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):  # ${!Literal} is CloudFormation's escape
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return str(self._get_att(logical_id, attribute))
            return str(self._resolve_ref(name, where))

        return _SUB_VARIABLE.sub(substitute, str(text))
