"""The ports every use case needs, built once per cold start.

Handlers call `get_deps()`; tests build `Deps` themselves around moto or fakes.
AWS clients are created lazily so a function pays only for the clients it uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import boto3

from vmkit.crypto import Sealer
from vmkit.settings import Settings, get_settings
from vmkit.store import Store, Table


@dataclass
class Deps:
    settings: Settings
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.client(service)
        return self._clients[service]

    @cached_property
    def store(self) -> Store:
        return Store(Table(self.settings.table_name, self.client("dynamodb")))

    @cached_property
    def sealer(self) -> Sealer:
        return Sealer(self.settings.kms_key_id, self.client("kms"))


_deps: Deps | None = None


def get_deps() -> Deps:
    global _deps
    if _deps is None:
        _deps = Deps(get_settings())
    return _deps
