"""The in-process Lambda runtime: loading, invoking, and errors shaped as Lambda shapes them."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from vmkit_local.core.errors import FunctionNotFound
from vmkit_local.core.functions import FunctionRuntime, InvalidRequestContent
from vmkit_local.core.resources import FunctionSpec


def make_function(
    directory: Path, logical_id: str, source: str, handler: str = "app.handler", **kwargs
):
    directory.mkdir(parents=True, exist_ok=True)
    module = handler.rsplit(".", 1)[0].replace(".", "/")
    (directory / f"{module}.py").parent.mkdir(parents=True, exist_ok=True)
    (directory / f"{module}.py").write_text(textwrap.dedent(source))
    return FunctionSpec(
        logical_id=logical_id,
        name=f"fn-{logical_id}",
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:fn-{logical_id}",
        code_uri=directory,
        handler=handler,
        timeout_s=kwargs.pop("timeout_s", 3),
        memory_mb=kwargs.pop("memory_mb", 128),
        environment={},
        **kwargs,
    )


@pytest.fixture
def runtime_of():
    runtimes = []

    def build(*specs):
        runtime = FunctionRuntime(specs, region="us-east-1", account_id="123456789012")
        runtimes.append(runtime)
        return runtime

    yield build
    for runtime in runtimes:
        runtime.close()


COUNTER = """
CALLS = []

def handler(event, context):
    CALLS.append(event)
    return {"calls": len(CALLS), "remaining": context.get_remaining_time_in_millis()}
"""


def test_module_is_loaded_once_and_kept_warm(tmp_path, runtime_of):
    runtime = runtime_of(make_function(tmp_path / "a", "A", COUNTER))

    assert runtime.invoke("fn-A", b'{"n": 1}').json()["calls"] == 1
    assert runtime.invoke("fn-A", b'{"n": 2}').json()["calls"] == 2


def test_two_functions_on_one_file_do_not_share_module_state(tmp_path, runtime_of):
    first = make_function(tmp_path / "shared", "First", COUNTER)
    second = make_function(tmp_path / "shared", "Second", COUNTER)
    runtime = runtime_of(first, second)

    runtime.invoke("fn-First")
    runtime.invoke("fn-First")

    assert runtime.invoke("fn-Second").json()["calls"] == 1


def test_remaining_time_counts_down_from_the_timeout(tmp_path, runtime_of):
    runtime = runtime_of(make_function(tmp_path / "a", "A", COUNTER, timeout_s=7))

    assert 6000 < runtime.invoke("fn-A").json()["remaining"] <= 7000


def test_packages_and_relative_imports_work(tmp_path, runtime_of):
    (tmp_path / "pkg" / "handlers").mkdir(parents=True)
    (tmp_path / "pkg" / "handlers" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "handlers" / "helper.py").write_text("VALUE = 'from helper'\n")
    spec = make_function(
        tmp_path / "pkg",
        "Pkg",
        "from .helper import VALUE\n\ndef handler(event, context):\n    return VALUE\n",
        handler="handlers.main.handler",
    )

    assert runtime_of(spec).invoke("fn-Pkg").json() == "from helper"


def test_sibling_modules_of_the_code_uri_are_importable(tmp_path, runtime_of):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "util_for_a.py").write_text("VALUE = 41\n")
    spec = make_function(
        tmp_path / "a",
        "A",
        "import util_for_a\n\ndef handler(event, context):\n    return util_for_a.VALUE + 1\n",
    )

    assert runtime_of(spec).invoke("fn-A").json() == 42


def test_ambiguous_sibling_module_names_both_directories(tmp_path, runtime_of):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "ambiguous_helper_xyz.py").write_text("VALUE = 1\n")
    source = "import ambiguous_helper_xyz\n\ndef handler(event, context):\n    return 1\n"
    runtime = runtime_of(
        make_function(tmp_path / "a", "A", source), make_function(tmp_path / "b", "B", source)
    )

    result = runtime.invoke("fn-A")

    assert result.function_error == "Unhandled"
    body = result.json()
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert (
        str(tmp_path / "a") in body["errorMessage"] and str(tmp_path / "b") in body["errorMessage"]
    )


def test_handler_error_has_lambdas_payload_with_only_the_handlers_frames(tmp_path, runtime_of):
    source = """
    class DeployFailed(Exception):
        pass

    def handler(event, context):
        raise DeployFailed("no capacity in fsn1")
    """
    result = runtime_of(make_function(tmp_path / "a", "A", source)).invoke("fn-A")

    assert result.function_error == "Unhandled"
    body = result.json()
    assert body["errorType"] == "DeployFailed"
    assert body["errorMessage"] == "no capacity in fsn1"
    assert body["requestId"] == result.request_id
    assert len(body["stackTrace"]) == 1 and "app.py" in body["stackTrace"][0]


@pytest.mark.parametrize(
    ("source", "handler", "error_type"),
    [
        ("import not_a_module_anywhere\n", "app.handler", "Runtime.ImportModuleError"),
        ("def handler(:\n", "app.handler", "Runtime.ImportModuleError"),
        ("x = 1\n", "app.handler", "Runtime.HandlerNotFound"),
        ("x = 1\n", "app", "Runtime.MalformedHandlerName"),
        ("raise ValueError('bad config')\n", "app.handler", "ValueError"),
        (
            "def handler(event, context):\n    return object()\n",
            "app.handler",
            "Runtime.MarshalError",
        ),
    ],
)
def test_loading_and_marshalling_failures_are_function_errors(
    tmp_path, runtime_of, source, handler, error_type
):
    spec = make_function(tmp_path / "a", "A", source)
    spec = FunctionSpec(**{**spec.__dict__, "handler": handler})

    result = runtime_of(spec).invoke("fn-A")

    assert result.function_error == "Unhandled"
    assert result.json()["errorType"] == error_type


def test_timeout_is_reported_as_sandbox_timedout(tmp_path, runtime_of):
    source = """
    import time

    def handler(event, context):
        time.sleep(1.3)  # outlives the 1 s timeout, then ends on its own
    """
    spec = make_function(tmp_path / "a", "A", source, timeout_s=1)
    runtime = runtime_of(spec)

    result = runtime.invoke("fn-A")

    assert result.function_error == "Unhandled"
    assert result.json()["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in result.json()["errorMessage"]


@pytest.mark.parametrize(
    ("name", "invoked_arn_suffix"),
    [
        ("fn-A", "function:fn-A"),
        ("fn-A:prod", "function:fn-A:prod"),
        ("arn:aws:lambda:us-east-1:123456789012:function:fn-A", "function:fn-A"),
        ("arn:aws:lambda:us-east-1:123456789012:function:fn-A:7", "function:fn-A:7"),
        ("123456789012:function:fn-A", "function:fn-A"),
    ],
)
def test_functions_are_found_by_name_or_arn(tmp_path, runtime_of, name, invoked_arn_suffix):
    runtime = runtime_of(make_function(tmp_path / "a", "A", COUNTER))

    spec, invoked_arn = runtime.resolve(name)

    assert spec.name == "fn-A"
    assert invoked_arn.endswith(invoked_arn_suffix)


def test_unknown_function_and_bad_payload_are_refused(tmp_path, runtime_of):
    runtime = runtime_of(make_function(tmp_path / "a", "A", COUNTER))

    with pytest.raises(FunctionNotFound, match="function:nope"):
        runtime.invoke("nope")
    with pytest.raises(InvalidRequestContent, match="Could not parse request body into json"):
        runtime.invoke("fn-A", b"{")


def test_empty_payload_is_an_empty_event(tmp_path, runtime_of):
    source = "def handler(event, context):\n    return event\n"

    assert runtime_of(make_function(tmp_path / "a", "A", source)).invoke("fn-A", b"").json() == {}


def test_close_removes_the_code_directories_from_the_import_path(tmp_path):
    runtime = FunctionRuntime(
        [make_function(tmp_path / "a", "A", COUNTER)], region="us-east-1", account_id="1"
    )
    assert str(tmp_path / "a") in sys.path

    runtime.close()

    assert str(tmp_path / "a") not in sys.path


def test_async_invocation_runs_in_the_background_and_close_waits_for_it(tmp_path):
    marker = tmp_path / "ran"
    source = f"""
    from pathlib import Path

    def handler(event, context):
        Path({str(marker)!r}).write_text(event["value"])
    """
    runtime = FunctionRuntime(
        [make_function(tmp_path / "a", "A", source)], region="us-east-1", account_id="1"
    )

    request_id = runtime.invoke_event("fn-A", json.dumps({"value": "done"}).encode())
    runtime.close()

    assert request_id
    assert marker.read_text() == "done"


# A shared library's warm cache, as vmkit.warm keeps clients and fetched secrets.
WARM_CACHE_LIBRARY = """
import contextvars

memory = contextvars.ContextVar("memory", default=None)
PROCESS = {}

def kept(key, make):
    own = memory.get()
    cache = PROCESS if own is None else own
    return cache.setdefault(key, make())
"""
FETCHES_ONCE = """
import warmlib

def handler(event, context):
    return {"secret": warmlib.kept("secret", lambda: event["fetched"])}
"""


def test_each_function_keeps_its_own_warm_state_as_in_its_own_process(tmp_path, monkeypatch):
    """One function's fetched secret is not another's: each fetches its own, with its role."""
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "warmlib.py").write_text(WARM_CACHE_LIBRARY)
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    import warmlib

    first = make_function(tmp_path / "first", "First", FETCHES_ONCE)
    second = make_function(tmp_path / "second", "Second", FETCHES_ONCE)
    runtime = FunctionRuntime(
        [first, second],
        region="us-east-1",
        account_id="123456789012",
        process_memory=warmlib.memory,
    )
    try:
        assert runtime.invoke("fn-First", b'{"fetched": "one"}').json() == {"secret": "one"}
        assert runtime.invoke("fn-Second", b'{"fetched": "two"}').json() == {"secret": "two"}
        assert runtime.invoke("fn-First", b'{"fetched": "again"}').json() == {"secret": "one"}
        assert warmlib.PROCESS == {}  # nothing landed in the shared process memory

        runtime.forget_warm_state()  # a new execution environment for each
        assert runtime.invoke("fn-First", b'{"fetched": "fresh"}').json() == {"secret": "fresh"}
    finally:
        runtime.close()
        sys.modules.pop("warmlib", None)
