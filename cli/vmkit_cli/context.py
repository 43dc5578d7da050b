"""What every command gets: its arguments, where to print, and the API client."""

from __future__ import annotations

import argparse
from functools import cached_property

import httpx

from vmkit_cli import connection
from vmkit_cli.client import VMKitClient
from vmkit_cli.output import Output


class Context:
    def __init__(
        self,
        args: argparse.Namespace,
        out: Output,
        transport: httpx.BaseTransport | None = None,
    ):
        self.args = args
        self.out = out
        self.transport = transport  # tests may route HTTP elsewhere

    @cached_property
    def connection(self) -> connection.Connection:
        return connection.resolve(getattr(self.args, "profile", None))

    @cached_property
    def client(self) -> VMKitClient:
        return self.connect(self.connection.url, self.connection.key)

    def connect(self, url: str, key: str) -> VMKitClient:
        return VMKitClient.connect(url, key, transport=self.transport)

    @property
    def connected(self) -> bool:
        return "connection" in self.__dict__
