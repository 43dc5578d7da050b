"""A Lambda function's module-level setup, run without the cyclic garbage collector.

Importing a handler allocates tens of thousands of objects that live as long as the
execution environment: boto3's service models, pydantic's classes, FastAPI's routes.
With the collector on, CPython walks them over a hundred times while they load, which
`make bench` measured at about 30 ms of a step function's 280 ms cold import (more for
the MCP function). None of them is garbage, so every function's `app.py` runs its
imports and setup inside `init_phase()`, with collection off.

Pydantic builds a model's validator when its class is created, and the SDKs define
hundreds of models a function never validates: the MCP SDK's two protocol versions,
FastAPI's OpenAPI document. VMKit's own models defer that build (`vmkit.modelbase`);
`init_phase()` makes deferring the default for every model defined after it starts,
so those build on first use too. `make bench` measured it at about 110 ms of the REST
function's cold import and 60-90 ms of the MCP function's (that SDK still builds its
protocol unions' adapters at import).

On Lambda the process is the function's alone, so at the end of init `gc.freeze()`
moves everything made so far into the permanent generation, and the collections that
run during invocations skip it too. (The few thousand cyclic leftovers of import stay
allocated; that is a small, fixed cost.) Where functions share a process, as on the
local stack or under pytest, nothing is frozen: the collector is only switched back on.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager


def _on_lambda() -> bool:
    # Lambda sets it for every runtime, e.g. AWS_Lambda_python3.11.
    return os.environ.get("AWS_EXECUTION_ENV", "").startswith("AWS_Lambda_")


def _defer_model_builds() -> None:
    # Every model inherits BaseModel's config; pydantic documents defer_build as safe for
    # any model (the first validation, serialisation or schema request builds it).
    from pydantic import BaseModel

    BaseModel.model_config["defer_build"] = True


@contextmanager
def init_phase() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    _defer_model_builds()
    try:
        yield
    finally:
        if _on_lambda():
            gc.freeze()
        if was_enabled:
            gc.enable()
