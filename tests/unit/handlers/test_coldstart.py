"""A handler's init phase: models defined in it build on first use, and still validate.

Each case runs in a fresh interpreter, as a Lambda execution environment does: the
init phase changes process-wide defaults, which the test process must not inherit.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest


def run_fresh(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **env},
        check=False,
    )


@pytest.mark.parametrize("on_lambda", [True, False])
def test_models_defined_during_init_build_on_first_validation(on_lambda: bool) -> None:
    env = {"AWS_EXECUTION_ENV": "AWS_Lambda_python3.11"} if on_lambda else {}
    run = run_fresh(
        """
        import gc
        from pydantic import BaseModel, ValidationError
        from vmkit.coldstart import init_phase

        with init_phase():
            assert not gc.isenabled()

            class Request(BaseModel):  # an SDK's model, not a vmkit.modelbase.Model
                name: str
                size: int

        assert gc.isenabled()
        assert not Request.__pydantic_complete__, "built at class creation"
        assert Request.model_validate({"name": "web", "size": "2"}).size == 2
        assert Request.__pydantic_complete__
        try:
            Request.model_validate({"name": "web", "size": "two"})
        except ValidationError as error:
            print(error.errors()[0]["loc"])
        print(gc.get_freeze_count() > 0)
        """,
        **env,
    )
    assert run.returncode == 0, run.stderr
    location, frozen = run.stdout.split()
    assert location == "('size',)"
    assert frozen == str(on_lambda)
