"""Running the template's Lambda handlers in this process, the way Lambda runs them.

- A handler is loaded from its CodeUri and Handler by file path under a module name
  unique to the function, on first invocation, and kept (warm starts): two functions
  sharing a file get two module instances, as two Lambda functions would.
- The CodeUri and the function's layers are importable (Lambda puts them on the path),
  appended to `sys.path`. A sibling module that exists under two CodeUris cannot be
  told apart in one process, so importing one by that name fails with a message that
  names both directories instead of silently loading the wrong one.
- Errors come back as Lambda reports them: the invocation "succeeds" with
  `FunctionError: Unhandled` and the payload `{"errorMessage", "errorType",
  "requestId", "stackTrace"}`; Step Functions reads `errorType` for Retry/Catch.
- The template's Timeout is enforced on the caller's side: after it, the caller gets
  Lambda's `Sandbox.Timedout` error. The handler's thread cannot be killed in-process
  and finishes in the background (Lambda would freeze it).
"""

from __future__ import annotations

import asyncio
import importlib.abc
import importlib.util
import itertools
import json
import logging
import sys
import threading
import time
import traceback
import types
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vmkit_local.core.errors import FunctionNotFound
from vmkit_local.core.iam import acting_as
from vmkit_local.core.packages import top_level_modules
from vmkit_local.core.resources import FunctionSpec

log = logging.getLogger(__name__)


class InvalidRequestContent(ValueError):
    """The invocation payload is not JSON (Lambda: InvalidRequestContentException)."""


class LambdaContext:
    """The `context` argument of a Python handler, with the attributes Lambda gives."""

    def __init__(self, spec: FunctionSpec, invoked_function_arn: str, request_id: str):
        self.function_name = spec.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = invoked_function_arn
        self.memory_limit_in_mb = str(spec.memory_mb)  # a string on Lambda too
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{spec.name}"
        self.log_stream_name = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline = time.monotonic() + spec.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class Invocation:
    """What Lambda's Invoke API returns: the payload, and whether the handler failed."""

    payload: bytes
    function_error: str | None = None
    request_id: str = ""

    def json(self) -> Any:
        return json.loads(self.payload) if self.payload else None


def _error_payload(error_type: str, message: str, request_id: str, trace: list[str]) -> bytes:
    return json.dumps(
        {
            "errorMessage": message,
            "errorType": error_type,
            "requestId": request_id,
            "stackTrace": trace,
        }
    ).encode()


def _exception_payload(exc: BaseException, request_id: str, skip: int = 0) -> bytes:
    """Lambda's error payload; `skip` drops the runtime's own outermost frames."""
    trace = traceback.format_list(traceback.extract_tb(exc.__traceback__)[skip:])
    return _error_payload(type(exc).__name__, str(exc), request_id, trace)


class _HandlerFailed(Exception):
    """Carries a handler's error payload out of its thread."""

    def __init__(self, payload: bytes):
        super().__init__("handler failed")
        self.payload = payload


class _LoadError(Exception):
    """A handler could not be loaded; carries Lambda's error type for it."""

    def __init__(self, error_type: str, message: str):
        super().__init__(message)
        self.error_type = error_type


class _AmbiguousSiblingFinder(importlib.abc.MetaPathFinder):
    """Refuses imports of a top-level module that two CodeUris both provide."""

    def __init__(self, owners: dict[str, list[Path]]):
        self.owners = owners

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        directories = self.owners.get(fullname)
        if directories and len(directories) > 1 and fullname not in sys.modules:
            listed = " and ".join(str(directory) for directory in directories)
            raise ImportError(
                f"module {fullname!r} exists in {listed}; functions share one process locally, "
                "so give it a unique name or move it into a layer"
            )
        return None


class FunctionRuntime:
    """The template's functions, invocable by name or ARN (with an optional qualifier)."""

    _instances = itertools.count(1)

    def __init__(
        self,
        specs: Iterable[FunctionSpec],
        *,
        region: str,
        account_id: str,
        process_memory: ContextVar[dict[str, Any] | None] | None = None,
    ):
        """`process_memory`, if given, is a context variable the functions' code keeps
        its warm state in (clients, fetched secrets): each function gets its own dict
        there, around its init and every invocation, as each gets its own process on
        Lambda, so none uses what another one fetched."""
        # Module names are unique per runtime too, so a later stack in this process
        # (tests, restarts) never finds an earlier one's modules in sys.modules.
        self._module_prefix = f"_vmkit_fn{next(self._instances)}_"
        self.region = region
        self.account_id = account_id
        self._specs = {spec.name: spec for spec in specs}
        self._process_memory = process_memory
        self._memories: dict[str, dict[str, Any]] = {name: {} for name in self._specs}
        self._handlers: dict[str, Callable[[Any, Any], Any]] = {}
        self._load_locks = {name: threading.Lock() for name in self._specs}
        # On Lambda, concurrent invocations get separate execution environments; here
        # they would share one module's state, so each function runs one at a time (as
        # with a reserved concurrency of 1) and a handler never sees a concurrent call.
        self._run_locks = {name: threading.Lock() for name in self._specs}
        self._background: set[threading.Thread] = set()
        self._background_lock = threading.Lock()
        self._added_paths: list[str] = []
        self._finder = _AmbiguousSiblingFinder(self._sibling_owners())
        self._install_paths()

    @property
    def specs(self) -> list[FunctionSpec]:
        return list(self._specs.values())

    # ----- import paths

    def _sibling_owners(self) -> dict[str, list[Path]]:
        owners: dict[str, list[Path]] = {}
        for code_uri in sorted({spec.code_uri for spec in self._specs.values()}):
            for name in top_level_modules(code_uri):
                owners.setdefault(name, []).append(code_uri)
        return owners

    def _install_paths(self) -> None:
        directories = [spec.code_uri for spec in self._specs.values()]
        directories += [path for spec in self._specs.values() for path in spec.layer_paths]
        for directory in dict.fromkeys(str(path) for path in directories):
            if directory not in sys.path:
                sys.path.append(directory)
                self._added_paths.append(directory)
        sys.meta_path.insert(0, self._finder)

    def close(self, timeout: float = 5.0) -> None:
        """Undo the import path changes and wait a little for async invocations."""
        with self._background_lock:
            pending = list(self._background)
        deadline = time.monotonic() + timeout
        for thread in pending:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._finder in sys.meta_path:
            sys.meta_path.remove(self._finder)
        for name in [name for name in sys.modules if name.startswith(self._module_prefix)]:
            del sys.modules[name]
        for directory in self._added_paths:
            if directory in sys.path:
                sys.path.remove(directory)
        self._added_paths.clear()

    # ----- lookup

    def resolve(self, name_or_arn: str) -> tuple[FunctionSpec, str]:
        """The function and the ARN it was invoked as.

        Accepts what Lambda's Invoke accepts: `name`, `name:qualifier`,
        `account:function:name[:qualifier]` and the full ARN with or without qualifier.
        """
        parts = name_or_arn.split(":")
        if name_or_arn.startswith("arn:"):
            name, qualifier = (
                parts[6] if len(parts) > 6 else "",
                parts[7] if len(parts) > 7 else None,
            )
        elif len(parts) >= 3 and parts[1] == "function":
            name, qualifier = parts[2], parts[3] if len(parts) > 3 else None
        else:
            name, qualifier = parts[0], parts[1] if len(parts) > 1 else None
        spec = self._specs.get(name)
        if spec is None:
            arn = f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"
            raise FunctionNotFound(f"Function not found: {arn}")
        invoked_arn = spec.arn if qualifier in (None, "") else f"{spec.arn}:{qualifier}"
        return spec, invoked_arn

    # ----- loading

    def _handler(self, spec: FunctionSpec) -> Callable[[Any, Any], Any]:
        handler = self._handlers.get(spec.name)
        if handler is not None:
            return handler
        with self._load_locks[spec.name]:
            if spec.name not in self._handlers:
                self._handlers[spec.name] = self._load(spec)
            return self._handlers[spec.name]

    def _load(self, spec: FunctionSpec) -> Callable[[Any, Any], Any]:
        module_path, _, attribute = spec.handler.rpartition(".")
        if not module_path or not attribute:
            raise _LoadError("Runtime.MalformedHandlerName", f"Bad handler '{spec.handler}'")
        parts = module_path.replace("/", ".").split(".")
        unique_root = f"{self._module_prefix}{spec.logical_id}"
        package_name, directory = unique_root, spec.code_uri
        try:
            self._ensure_package(package_name, directory)
            for part in parts[:-1]:
                directory = directory / part
                package_name = f"{package_name}.{part}"
                self._ensure_package(package_name, directory)
            module = self._load_module(f"{package_name}.{parts[-1]}", directory / f"{parts[-1]}.py")
        except _LoadError:
            raise
        except (ImportError, SyntaxError) as exc:
            raise _LoadError(
                "Runtime.ImportModuleError", f"Unable to import module '{module_path}': {exc}"
            ) from exc
        handler = getattr(module, attribute, None)
        if not callable(handler):
            raise _LoadError(
                "Runtime.HandlerNotFound",
                f"Handler '{attribute}' missing on module '{module_path}'",
            )
        log.debug("loaded %s from %s", spec.handler, spec.code_uri)
        return handler

    @staticmethod
    def _ensure_package(name: str, directory: Path) -> None:
        """A package under a unique name, so the handler's relative imports work."""
        if name in sys.modules:
            return
        init = directory / "__init__.py"
        if init.is_file() and "." in name:
            FunctionRuntime._load_module(name, init, package_dir=directory)
            return
        package = types.ModuleType(name)
        package.__path__ = [str(directory)]
        package.__package__ = name
        sys.modules[name] = package

    @staticmethod
    def _load_module(name: str, path: Path, package_dir: Path | None = None) -> types.ModuleType:
        if not path.is_file():
            raise ImportError(f"No module file {path}")
        locations = [str(package_dir)] if package_dir else None
        spec = importlib.util.spec_from_file_location(
            name, path, submodule_search_locations=locations
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        return module

    # ----- invoking

    def invoke(self, name_or_arn: str, payload: bytes = b"") -> Invocation:
        """Invoke synchronously (InvocationType=RequestResponse)."""
        spec, invoked_arn = self.resolve(name_or_arn)
        event = self._decode(payload)
        return self._run(spec, invoked_arn, event)

    def invoke_event(self, name_or_arn: str, payload: bytes = b"") -> str:
        """Invoke asynchronously (InvocationType=Event); returns the request id.

        Lambda would retry a failed async invocation twice over minutes; locally the
        failure is logged and not retried.
        """
        spec, invoked_arn = self.resolve(name_or_arn)
        event = self._decode(payload)
        request_id = str(uuid.uuid4())

        def run() -> None:
            try:
                result = self._run(spec, invoked_arn, event, request_id)
                if result.function_error:
                    log.warning(
                        "async invocation of %s failed: %s", spec.name, result.payload[:500]
                    )
            finally:
                with self._background_lock:
                    self._background.discard(threading.current_thread())

        thread = threading.Thread(target=run, name=f"lambda-event-{spec.name}", daemon=True)
        with self._background_lock:
            self._background.add(thread)
        thread.start()
        return request_id

    def call(self, name_or_arn: str, event: Any) -> Invocation:
        """Invoke with an event object (for in-process callers such as the gateway)."""
        spec, invoked_arn = self.resolve(name_or_arn)
        return self._run(spec, invoked_arn, event)

    def forget_warm_state(self) -> None:
        """Every function's next invocation finds its process memory empty, as in a new
        execution environment (its module stays imported: its init is not run again)."""
        for memory in self._memories.values():
            memory.clear()

    def _remember_as(self, spec: FunctionSpec) -> Any:
        """Point the process memory at this function's own; the token to undo it."""
        if self._process_memory is None:
            return None
        return self._process_memory.set(self._memories[spec.name])

    @staticmethod
    def _decode(payload: bytes) -> Any:
        if not payload.strip():
            return {}
        try:
            return json.loads(payload)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidRequestContent(f"Could not parse request body into json: {exc}") from exc

    def _run(
        self, spec: FunctionSpec, invoked_arn: str, event: Any, request_id: str | None = None
    ) -> Invocation:
        request_id = request_id or str(uuid.uuid4())
        started = time.monotonic()
        acting = acting_as.set(spec.logical_id)  # its init code runs with its role too
        remembering = self._remember_as(spec)
        try:
            handler = self._handler(spec)
        except _LoadError as exc:
            payload = _error_payload(exc.error_type, str(exc), request_id, [])
            return Invocation(payload, "Unhandled", request_id)
        except Exception as exc:  # the module raised while initialising
            return Invocation(_exception_payload(exc, request_id), "Unhandled", request_id)
        finally:
            acting_as.reset(acting)
            if remembering is not None:
                remembering.var.reset(remembering)
        context = LambdaContext(spec, invoked_arn, request_id)
        future: Future[Any] = Future()

        def target() -> None:
            future.set_running_or_notify_cancel()
            # Lambda runs a handler on its runtime's main thread, where asyncio has a
            # loop to get; adapters such as Mangum rely on that.
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            acting_as.set(spec.logical_id)  # this thread's context: the call's own
            self._remember_as(spec)
            try:
                future.set_result(handler(event, context))
            except BaseException as exc:
                # Formatted here, before re-raising adds this module's frames to it.
                future.set_exception(_HandlerFailed(_exception_payload(exc, request_id, skip=1)))
            finally:
                asyncio.set_event_loop(None)
                loop.close()

        try:
            with self._run_locks[spec.name]:
                threading.Thread(target=target, name=f"lambda-{spec.name}", daemon=True).start()
                result = future.result(timeout=spec.timeout_s)
        except FutureTimeout:
            now = datetime.now(UTC).isoformat()
            message = f"{now} {request_id} Task timed out after {spec.timeout_s:.2f} seconds"
            return Invocation(
                _error_payload("Sandbox.Timedout", message, request_id, []), "Unhandled", request_id
            )
        except _HandlerFailed as failed:
            return Invocation(failed.payload, "Unhandled", request_id)
        finally:
            log.debug("%s ran in %.0f ms", spec.name, (time.monotonic() - started) * 1000)
        try:
            payload = json.dumps(result).encode()
        except (TypeError, ValueError) as exc:
            message = f"Unable to marshal response: {exc}"
            return Invocation(
                _error_payload("Runtime.MarshalError", message, request_id, []),
                "Unhandled",
                request_id,
            )
        return Invocation(payload, None, request_id)
