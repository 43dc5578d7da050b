"""The agents' channel: API Gateway's `@connections` management API (boto3)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from vmkit.ports import ConnectionGone


class ApiGatewayAgentChannel:
    def __init__(self, client: Any):
        self.client = client

    def post(self, connection_id: str, data: bytes) -> None:
        try:
            self.client.post_to_connection(ConnectionId=connection_id, Data=data)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in {"GoneException", "410"}:
                raise ConnectionGone(connection_id) from exc
            raise

    def close(self, connection_id: str) -> None:
        try:
            self.client.delete_connection(ConnectionId=connection_id)
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in {"GoneException", "410"}:
                raise
