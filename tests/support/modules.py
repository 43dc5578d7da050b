"""A function's handler module loaded fresh from `functions/`, as a cold start loads it."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
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


def imported_at_cold_start(folder: str, modules: tuple[str, ...]) -> list[str]:
    """Which of `modules` importing `functions/{folder}/app.py` loads, in a fresh process."""
    probe = (
        f"import sys; sys.path.insert(0, 'functions/{folder}'); import app; "
        f"print(' '.join(sorted(m for m in {modules!r} if m in sys.modules)))"
    )
    env = {
        **os.environ,
        "AWS_DEFAULT_REGION": "eu-central-1",
        "TABLE_NAME": "vmkit",
        "KMS_KEY_ID": "alias/vmkit",
        "DEPLOY_STATE_MACHINE_ARN": "arn:aws:states:eu-central-1:123456789012:stateMachine:deploy",
        "TEARDOWN_STATE_MACHINE_ARN": "arn:aws:states:eu-central-1:123456789012:stateMachine:down",
    }
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=FUNCTIONS.parent,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()
