"""What a warm execution environment keeps from one invocation to the next.

A Lambda process belongs to one function, so the clients it built (`Deps`) and the
secrets it fetched (Powertools' SSM provider and its cache) are that function's alone.
Everything VMKit keeps across invocations is kept here, so a runtime that hosts
several functions in one process, as the local stack does, can give each its own:
`state` is a context variable, and a dict set in it around a function's init and
invocations is that function's memory. With none set, as on Lambda, the process's
memory is used. Without this, one function could use a secret another fetched, and a
permission its role lacks would go unnoticed locally.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

state: ContextVar[dict[str, Any] | None] = ContextVar("vmkit_warm_state", default=None)
_process: dict[str, Any] = {}


def _memory() -> dict[str, Any]:
    own = state.get()
    return _process if own is None else own


def kept(key: str, make: Callable[[], T]) -> T:
    """The value kept under `key`, made on first use."""
    memory = _memory()
    if key not in memory:
        memory[key] = make()
    return memory[key]


def keep(key: str, value: Any | None) -> None:
    """Keep `value` under `key` (None forgets it): tests put fakes in this way."""
    memory = _memory()
    if value is None:
        memory.pop(key, None)
    else:
        memory[key] = value


def forget() -> None:
    """Forget everything kept, as a cold start would."""
    _memory().clear()
