"""A thin adapter over the DynamoDB client: items in, items out, SDK errors as domain errors.

The low-level client (not the boto3 resource layer) keeps cold starts short; the
type (de)serializers are boto3's own.
"""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from vmkit.errors import Conflict, NotFound

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_item(data: dict[str, Any]) -> dict[str, Any]:
    # DynamoDB numbers are Decimals; a JSON round trip turns every float into one.
    clean = json.loads(json.dumps(data), parse_float=Decimal)
    return {k: _serializer.serialize(v) for k, v in clean.items() if v is not None}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_plain(v) for v in value]
    return value


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(_deserializer.deserialize(v)) for k, v in item.items()}


def encode_cursor(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(from_item(key)).encode()).decode()


def decode_cursor(cursor: str, expected_pk: str) -> dict[str, Any]:
    """Decode a page cursor, refusing one that points into another partition."""
    unknown = NotFound(
        "no page starts at this cursor: it was not returned by this listing; list again without it",
        code="cursor_not_found",
    )
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError) as exc:
        raise unknown from exc
    if not isinstance(data, dict) or data.get("pk") != expected_pk:
        raise unknown
    return to_item(data)


class ConditionFailed(Conflict):
    code = "condition_failed"


class Table:
    def __init__(self, name: str, client: Any = None):
        self.name = name
        self.client = client or boto3.client("dynamodb")

    def get(self, pk: str, sk: str, *, consistent: bool = True) -> dict[str, Any] | None:
        resp = self.client.get_item(
            TableName=self.name,
            Key={"pk": {"S": pk}, "sk": {"S": sk}},
            ConsistentRead=consistent,
        )
        item = resp.get("Item")
        return from_item(item) if item else None

    def put(
        self,
        item: dict[str, Any],
        *,
        condition: str | None = None,
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
        conflict_message: str = "the record changed or already exists",
    ) -> None:
        kwargs: dict[str, Any] = {"TableName": self.name, "Item": to_item(item)}
        if condition:
            kwargs["ConditionExpression"] = condition
        if names:
            kwargs["ExpressionAttributeNames"] = names
        if values:
            kwargs["ExpressionAttributeValues"] = to_item(values)
        self._conditional(self.client.put_item, kwargs, conflict_message)

    def update(
        self,
        pk: str,
        sk: str,
        *,
        update: str,
        condition: str | None = None,
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
        conflict_message: str = "the record changed or does not exist",
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "Key": {"pk": {"S": pk}, "sk": {"S": sk}},
            "UpdateExpression": update,
            "ReturnValues": "ALL_NEW",
        }
        if condition:
            kwargs["ConditionExpression"] = condition
        if names:
            kwargs["ExpressionAttributeNames"] = names
        if values:
            kwargs["ExpressionAttributeValues"] = to_item(values)
        resp = self._conditional(self.client.update_item, kwargs, conflict_message)
        return from_item(resp.get("Attributes", {}))

    def delete(
        self,
        pk: str,
        sk: str,
        *,
        condition: str | None = None,
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {"TableName": self.name, "Key": {"pk": {"S": pk}, "sk": {"S": sk}}}
        if condition:
            kwargs["ConditionExpression"] = condition
        if names:
            kwargs["ExpressionAttributeNames"] = names
        if values:
            kwargs["ExpressionAttributeValues"] = to_item(values)
        self._conditional(self.client.delete_item, kwargs, "the record changed")

    def query(
        self,
        pk: str,
        *,
        sk_prefix: str | None = None,
        index: str | None = None,
        limit: int | None = None,
        start_key: dict[str, Any] | None = None,
        newest_first: bool = False,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        pk_attr, sk_attr = ("pk", "sk") if index is None else (f"{index}pk", f"{index}sk")
        expr = "#pk = :pk"
        names = {"#pk": pk_attr}
        values: dict[str, Any] = {":pk": {"S": pk}}
        if sk_prefix:
            expr += " AND begins_with(#sk, :sk)"
            names["#sk"] = sk_attr
            values[":sk"] = {"S": sk_prefix}
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": expr,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": not newest_first,
        }
        if index:
            kwargs["IndexName"] = index
        if limit:
            kwargs["Limit"] = limit
        if start_key:
            kwargs["ExclusiveStartKey"] = start_key
        resp = self.client.query(**kwargs)
        return [from_item(i) for i in resp.get("Items", [])], resp.get("LastEvaluatedKey")

    @staticmethod
    def _conditional(call: Any, kwargs: dict[str, Any], message: str) -> dict[str, Any]:
        try:
            return call(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConditionFailed(message) from exc
            raise
