"""A function's handler module loaded fresh from `functions/`, as a cold start loads it."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


def load_module(folder: str) -> ModuleType:
    """`functions/{folder}/app.py` under a name of its own, executed anew."""
    spec = importlib.util.spec_from_file_location(
        f"{folder}_function_app", FUNCTIONS / folder / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_function(folder: str, handler: str = "handler") -> Any:
    return getattr(load_module(folder), handler)
