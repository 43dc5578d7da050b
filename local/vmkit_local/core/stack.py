"""`LocalStack`: the whole control plane of a template on this machine, in one process.

Start order, each step ready before the next:
1. listening sockets for every server (so all URLs are known up front), on the ports
   kept in the data dir when there is one (`ports.py`), so agents and stored URLs
   find the stack again after a restart;
2. the process environment (`AWS_ENDPOINT_URL`, region, fake credentials, `MOTO_PORT`);
3. moto behind the Lambda router, with Step Functions execution turned on;
4. the template's resources, created in moto; saved state loaded from the data dir;
5. every function's environment merged into the process environment (handlers run
   here); a key two functions set to different values is an error naming both;
6. the WebSocket gateway, the mounted ASGI apps, then the extra services;
7. the `on_ready` hook (e.g. a bootstrap API key), then `.vmkit/local.json`, written
   atomically, so its presence means "ready".
`stop()` stops what could start new work first (executions, the gateway, the apps),
lets requests under way finish while the services they call are up, then stops those,
folds the journal into a snapshot, removes the state file and restores the
environment; the reaper then ends any process left (`vmkit_local.lifetime`). One stack
per process (the environment is shared).
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from vmkit_local.core import moto_state
from vmkit_local.core.asgi import AppServer, AppSpec
from vmkit_local.core.errors import LocalStackError
from vmkit_local.core.iam import AccountResources, LocalIam
from vmkit_local.core.listeners import port_of
from vmkit_local.core.packages import PackageGuard
from vmkit_local.core.persistence import DataDir, KeptState
from vmkit_local.core.ports import PortBook
from vmkit_local.core.resources import FunctionSpec
from vmkit_local.core.schedules import Scheduler
from vmkit_local.core.stackspec import LocalUrls, StackSpec
from vmkit_local.core.websocket import GatewayLimits, WebSocketGateway
from vmkit_local.files import write_atomically
from vmkit_local.lifetime import RUN_VARIABLE, Reaper, end_run

log = logging.getLogger(__name__)

ACCOUNT_ID = "123456789012"  # moto's default account
DRAIN_TIMEOUT_S = 5.0  # how long a stop waits for handlers under way to finish


class Service(Protocol):
    """Something else the stack runs (a VM sandbox, an app router, ...).

    `start` runs after the AWS endpoint, the gateway and the apps are up, and may
    return entries for `.vmkit/local.json` (e.g. `{"apps_url": ...}`); `stop` must
    release everything it started (threads, child processes, ports).
    """

    name: str

    def start(self, stack: LocalStack) -> Mapping[str, Any] | None: ...

    def stop(self) -> None: ...


AppLike = AppSpec | str | Callable[..., Any]
ReadyHook = Callable[["LocalStack"], Mapping[str, Any] | None]


@dataclass(frozen=True)
class StackConfig:
    """How to run the stack. Ports 0 mean "any free port"."""

    template: Path
    data_dir: Path | None = None  # None: nothing survives a restart
    state_file: Path | None = None  # .vmkit/local.json; None: not written
    host: str = "127.0.0.1"
    aws_port: int = 0
    websocket_port: int = 0
    management_port: int = 0
    app_ports: Mapping[str, int] = field(default_factory=dict)
    stack_name: str = "vmkit-local"
    region: str = "us-east-1"
    # Template parameter values; "{local.NAME}" inside a value is replaced by a stack
    # fact (aws_url, ws_url, ws_management_url, <app>_url, github_webhook_secret, data_dir).
    parameter_overrides: Mapping[str, str] = field(default_factory=dict)
    # Logical id of an HTTP/REST API or of a function with a function URL → the name
    # of the mounted app that plays it; its execute-api / lambda-url URLs in functions'
    # environments are rewritten to that app's URL.
    api_apps: Mapping[str, str] = field(default_factory=dict)
    # Secrets Manager secret name → value ("{local.NAME}" allowed), created or
    # overwritten after the template's own secrets.
    secret_values: Mapping[str, str] = field(default_factory=dict)
    limits: GatewayLimits = field(default_factory=GatewayLimits)
    # Every `Type: Schedule` event fires at this period instead of its rate (tests).
    schedule_every_s: float | None = None
    # Where the functions' code keeps its warm state; each function gets its own.
    process_memory: ContextVar[dict[str, Any] | None] | None = None


_FACT = re.compile(r"\{local\.([a-z0-9_]+)\}")


def merge_function_environments(
    functions: Sequence[FunctionSpec], stack_environment: Mapping[str, str]
) -> dict[str, str]:
    """All functions' variables, for the one process they share.

    A key two functions set to different values, or a key the stack itself sets, is an
    error naming the functions (never the values: they may be secrets).
    """
    merged: dict[str, str] = {}
    owner: dict[str, str] = {}
    for function in functions:
        for key, value in function.environment.items():
            if key in stack_environment and stack_environment[key] != value:
                raise LocalStackError(
                    f"{function.logical_id} sets {key}, which the local stack sets; rename it"
                )
            if key in merged and merged[key] != value:
                raise LocalStackError(
                    f"{owner[key]} and {function.logical_id} set {key} to different values; "
                    "functions share one process locally: give it one value or two names"
                )
            merged[key] = value
            owner.setdefault(key, function.logical_id)
    return merged


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalStack:
    _active: LocalStack | None = None
    _active_lock = threading.Lock()

    def __init__(
        self,
        config: StackConfig,
        *,
        apps: Mapping[str, AppLike] | None = None,
        services: Sequence[Service] = (),
        on_ready: ReadyHook | None = None,
    ):
        self.config = config
        self.apps = {
            name: app if isinstance(app, AppSpec) else AppSpec(app)
            for name, app in (apps or {}).items()
        }
        self.services = list(services)
        self.on_ready = on_ready
        self.data = DataDir(config.data_dir) if config.data_dir else None
        self._ports = PortBook(config.data_dir / "ports.json" if config.data_dir else None)
        self.aws_url = ""
        self.ws_url: str | None = None
        self.ws_management_url: str | None = None
        # Where each app answers (its server plus AppSpec.path), and its server's root.
        self.app_urls: dict[str, str] = {}
        self._app_roots: dict[str, str] = {}
        self.environment: dict[str, str] = {}
        self.local_json: dict[str, Any] = {}
        self.startup_seconds = 0.0
        self.spec: StackSpec | None = None
        self.functions: list[FunctionSpec] = []
        self.runtime: Any = None
        self.iam: LocalIam | None = None
        self.packages: PackageGuard | None = None
        self._scheduler: Scheduler | None = None
        self._aws: Any = None
        self._gateway: WebSocketGateway | None = None
        self._app_servers: list[AppServer] = []
        self._started_services: list[Service] = []
        self._saved_environment: dict[str, str | None] = {}
        self._sockets: list[Any] = []
        self._kms_material: dict[str, bytes] = {}
        self._stack_state: dict[str, Any] = {}
        self._running = False
        self._reaper: Reaper | None = None

    @property
    def aws_server(self) -> Any:
        """The AWS endpoint (`core.aws_server.AwsServer`) while the stack runs."""
        return self._aws

    # ----- facts other parts are configured with

    @property
    def github_webhook_secret(self) -> str:
        return str(self._stack_state["github_webhook_secret"])

    def facts(self) -> dict[str, str]:
        facts = {"aws_url": self.aws_url, "github_webhook_secret": self.github_webhook_secret}
        if self.ws_url:
            facts |= {"ws_url": self.ws_url, "ws_management_url": str(self.ws_management_url)}
        if self.config.data_dir:
            facts["data_dir"] = str(self.config.data_dir)
        facts |= {f"{name}_url": url for name, url in self.app_urls.items()}
        return facts

    def _expand(self, value: str) -> str:
        facts = self.facts()

        def replace(match: re.Match[str]) -> str:
            if match.group(1) not in facts:
                raise LocalStackError(
                    f"unknown {match.group(0)}; known: {', '.join(sorted(facts))}"
                )
            return facts[match.group(1)]

        return _FACT.sub(replace, value)

    def client(self, service: str) -> Any:
        """A boto3 client for this stack's AWS endpoint."""
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.aws_url,
            region_name=self.config.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 (moto accepts any)
        )

    # ----- start

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        with LocalStack._active_lock:
            if LocalStack._active is not None:
                raise LocalStackError(
                    "a LocalStack is already running in this process (they share its environment)"
                )
            LocalStack._active = self
        started = time.monotonic()
        self._running = True
        try:
            self._claim_state_file()
            self._start()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        log.info("local stack ready in %.2f s", self.startup_seconds)

    def _start(self) -> None:
        config = self.config
        self._begin_run()
        aws_socket = self._listen("aws endpoint", config.aws_port)
        self.aws_url = f"http://{config.host}:{port_of(aws_socket)}"
        ws_socket = self._listen("websocket gateway", config.websocket_port)
        management_socket = self._listen("websocket management", config.management_port)
        app_sockets = {
            name: self._listen(f"app {name}", config.app_ports.get(name, 0)) for name in self.apps
        }
        self._app_roots = {
            name: f"http://{config.host}:{port_of(s)}" for name, s in app_sockets.items()
        }
        self.app_urls = {
            name: f"{root}{self.apps[name].path}" for name, root in self._app_roots.items()
        }
        self._stack_state = self.data.read_json("stack.json") if self.data else {}
        self._stack_state.setdefault("github_webhook_secret", secrets.token_urlsafe(32))
        if self.data:
            self.data.write_json("stack.json", self._stack_state)
        self.spec = self._read_template(port_of(ws_socket), port_of(management_socket))
        self._set_environment(self._aws_environment())
        self._start_aws(aws_socket)
        self._provision()
        self._start_gateway(ws_socket, management_socket)
        for name, sock in app_sockets.items():
            server = AppServer(name, self.apps[name], sock)
            server.start()
            self._app_servers.append(server)
        extras: dict[str, Any] = {}
        for service in self.services:
            extras |= dict(service.start(self) or {})
            self._started_services.append(service)
        if self.on_ready is not None:
            extras |= dict(self.on_ready(self) or {})
        self._start_schedules()
        self._write_state_file(extras)

    def _claim_state_file(self) -> None:
        """Refuse to start over a running stack's state file; drop a dead one's, so the
        file is there only while a stack is ready."""
        path = self.config.state_file
        if path is None or not path.exists():
            return
        try:
            pid = int(json.loads(path.read_text()).get("pid", 0))
        except (ValueError, AttributeError, json.JSONDecodeError):
            pid = 0
        if pid and pid != os.getpid() and _process_alive(pid):
            raise LocalStackError(
                f"a local stack (pid {pid}) is already running with state file {path}"
            )
        path.unlink()

    def _begin_run(self) -> None:
        """Own the data dir, end what a crashed run left, and mark this run's processes.

        See `vmkit_local.lifetime`: every process started from here on carries the run's
        id, and the reaper ends them all when this process ends, however it ends.
        """
        if self.data:
            self.data.lock()
            previous = self.data.read_json("stack.json").get("run")
            if previous and (left := end_run(str(previous))):
                log.warning("ended %d processes a crashed run of the stack left", len(left))
        run = secrets.token_hex(8)
        self._set_environment({RUN_VARIABLE: run})
        if self.data:
            self.data.write_json("stack.json", {**self.data.read_json("stack.json"), "run": run})
        self._reaper = Reaper(run)
        self._reaper.start()

    def _listen(self, name: str, port: int) -> Any:
        sock = self._ports.listen(name, self.config.host, port)
        self._sockets.append(sock)
        return sock

    def _read_template(self, ws_port: int, management_port: int) -> StackSpec:
        config = self.config
        unknown_apps = sorted(set(config.api_apps.values()) - set(self.app_urls))
        if unknown_apps:
            raise LocalStackError(
                f"api_apps names app(s) {', '.join(unknown_apps)}, which are not mounted"
            )
        websocket_base = f"ws://{config.host}:{ws_port}"
        self.ws_url, self.ws_management_url = (
            websocket_base,
            f"http://{config.host}:{management_port}",
        )
        spec = StackSpec(
            config.template,
            stack_name=config.stack_name,
            region=config.region,
            account_id=ACCOUNT_ID,
            parameter_overrides={
                name: self._expand(value) for name, value in config.parameter_overrides.items()
            },
            local_urls=LocalUrls(
                websocket_url=websocket_base,
                websocket_management_url=str(self.ws_management_url),
                api_urls={
                    logical_id: self._app_roots[app] for logical_id, app in config.api_apps.items()
                },
            ),
        )
        apis = spec.websocket_apis()
        if len(apis) > 1:
            raise LocalStackError(
                f"one WebSocket API per local stack, the template has {len(apis)}"
            )
        if apis:
            self.ws_url = f"{websocket_base}/{apis[0].stage}"
            self.ws_management_url = f"{self.ws_management_url}/{apis[0].stage}"
        else:
            self.ws_url = self.ws_management_url = None
        return spec

    def _aws_environment(self) -> dict[str, str]:
        environment = {
            "AWS_ENDPOINT_URL": self.aws_url,
            "AWS_REGION": self.config.region,
            "AWS_DEFAULT_REGION": self.config.region,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_EC2_METADATA_DISABLED": "true",
            "MOTO_PORT": self.aws_url.rsplit(":", 1)[1],
            "VMKIT_LOCAL": "1",
        }
        environment |= {
            f"VMKIT_LOCAL_{name.upper()}": value for name, value in self.facts().items()
        }
        return environment

    def _set_environment(self, values: Mapping[str, str]) -> None:
        for key, value in values.items():
            if key not in self._saved_environment:
                self._saved_environment[key] = os.environ.get(key)
            os.environ[key] = value
            self.environment[key] = value
        if (
            "AWS_PROFILE" not in self._saved_environment
        ):  # a profile would override the fake credentials
            self._saved_environment["AWS_PROFILE"] = os.environ.pop("AWS_PROFILE", None)

    def _restore_environment(self) -> None:
        for key, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_environment.clear()
        self.environment.clear()

    def _start_aws(self, aws_socket: Any) -> None:
        from vmkit_local.core.aws_server import AwsServer  # imports moto: the slow part of startup

        self._aws = AwsServer(aws_socket)
        self._aws.start()

    def _provision(self) -> None:
        from vmkit_local.core.functions import FunctionRuntime
        from vmkit_local.core.provision import provision

        assert self.spec is not None
        saved_material = self.data.kms_material() if self.data else {}
        provisioned = provision(self.spec, self.client, saved_material)
        self._kms_material = provisioned.kms_material
        if self.data:
            self.data.save_kms_material(self._kms_material)
            self.data.recover(self._kept_state(), self._aws.journaling)
        secretsmanager = self.client("secretsmanager")
        for name, value in self.config.secret_values.items():
            self._put_secret(secretsmanager, name, self._expand(value))
        self.functions = provisioned.functions
        self._set_environment(merge_function_environments(provisioned.functions, self.environment))
        self.runtime = FunctionRuntime(
            provisioned.functions,
            region=self.config.region,
            account_id=ACCOUNT_ID,
            process_memory=self.config.process_memory,
        )
        self._aws.router.runtime = self.runtime
        self.iam = self._enforce_iam()
        self.packages = PackageGuard.for_functions(provisioned.functions)
        self.packages.install()

    def _enforce_iam(self) -> LocalIam:
        """Every function's calls are held to its own role from here on (core/iam.py)."""
        assert self.spec is not None
        spec = self.spec
        keys = {key.key_id: key.arn for key in spec.kms_keys()} | {
            key.arn: key.arn for key in spec.kms_keys()
        }
        keys |= {alias.alias_name: keys[alias.target_key_id] for alias in spec.kms_aliases()}
        apis = spec.websocket_apis()
        account = AccountResources(
            region=self.config.region,
            account_id=ACCOUNT_ID,
            kms_key_arns=keys,
            websocket_api=(apis[0].api_id, apis[0].stage) if apis else None,
        )
        iam = LocalIam(spec.function_roles(), account)
        iam.install()
        return iam

    @staticmethod
    def _put_secret(secretsmanager: Any, name: str, value: str) -> None:
        try:
            secretsmanager.put_secret_value(SecretId=name, SecretString=value)
        except secretsmanager.exceptions.ResourceNotFoundException:
            secretsmanager.create_secret(Name=name, SecretString=value)

    def _start_schedules(self) -> None:
        assert self.spec is not None
        self._scheduler = Scheduler(
            self.spec.schedules(),
            self.runtime.invoke_event,
            region=self.config.region,
            account_id=ACCOUNT_ID,
            every_s=self.config.schedule_every_s,
        )
        self._scheduler.start()

    def _start_gateway(self, ws_socket: Any, management_socket: Any) -> None:
        assert self.spec is not None
        apis = self.spec.websocket_apis()
        if not apis:
            ws_socket.close()
            management_socket.close()
            return
        self._gateway = WebSocketGateway(
            apis[0],
            self.runtime.call,
            ws_socket,
            management_socket,
            region=self.config.region,
            account_id=ACCOUNT_ID,
            limits=self.config.limits,
        )
        self._gateway.start()

    def _write_state_file(self, extras: Mapping[str, Any]) -> None:
        self.local_json = {
            "rest_url": self.app_urls.get("rest"),
            "mcp_url": self.app_urls.get("mcp"),
            "ws_url": self.ws_url,
            "ws_management_url": self.ws_management_url,
            "apps_url": None,
            "api_key": None,
            "github_webhook_secret": self.github_webhook_secret,
            "aws_endpoint_url": self.aws_url,
            "region": self.config.region,
            "app_urls": dict(self.app_urls),
            "data_dir": str(self.config.data_dir) if self.config.data_dir else None,
            "pid": os.getpid(),
            **extras,
        }
        if self.config.state_file is not None:
            write_atomically(self.config.state_file, json.dumps(self.local_json, indent=2) + "\n")

    # ----- stop

    def stop(self) -> None:
        """Stop everything that started, save state, restore the environment. Idempotent."""
        if not self._running:
            return
        self._running = False
        self._remove_state_file()
        # Nothing new starts first (executions, then every way in), then what is under
        # way finishes while the services it calls are still up, then those stop.
        steps: list[tuple[str, Callable[[], None]]] = []
        if self._scheduler is not None:
            steps.append(("schedules", self._scheduler.stop))
        if self._aws is not None:
            steps.append(("step functions executions", self._stop_executions))
        if self._gateway is not None:
            steps.append(("websocket gateway", self._gateway.stop))
        steps += [(f"app {a.name}", a.stop) for a in reversed(self._app_servers)]
        if self._aws is not None:
            steps.append(("requests under way", self._drain_requests))
        steps += [(f"service {s.name}", s.stop) for s in reversed(self._started_services)]
        if self._aws is not None:
            steps += [
                ("data directory", self._save_state),
                ("functions", self._close_runtime),
                ("aws endpoint", self._stop_aws),
            ]
        errors = []
        for name, step in steps:
            try:
                step()
            except Exception as exc:
                log.exception("stopping %s failed", name)
                errors.append(f"{name}: {exc}")
        self._started_services.clear()
        self._app_servers.clear()
        self._gateway = self._aws = None
        for sock in self._sockets:  # those a failed start never handed to a server
            sock.close()
        self._sockets.clear()
        self._restore_environment()
        if self._reaper is not None:  # the last word: nothing of this run outlives it
            self._reaper.stop()
            self._reaper = None
        if self.data:
            self.data.unlock()
        with LocalStack._active_lock:
            if LocalStack._active is self:
                LocalStack._active = None
        if errors:
            raise LocalStackError("stopping the local stack failed: " + "; ".join(errors))

    def _remove_state_file(self) -> None:
        path = self.config.state_file
        if path is not None and self.local_json and path.exists():
            path.unlink()

    def _stop_executions(self) -> None:
        """End running executions, so their threads (waiting on tokens, retrying) end too."""
        stepfunctions = self.client("stepfunctions")
        for page in stepfunctions.get_paginator("list_state_machines").paginate():
            for machine in page["stateMachines"]:
                running = stepfunctions.list_executions(
                    stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING"
                )["executions"]
                for execution in running:
                    stepfunctions.stop_execution(
                        executionArn=execution["executionArn"], cause="local stack stopped"
                    )
        moto_state.release_waiting_tasks(ACCOUNT_ID, self.config.region)

    def _drain_requests(self) -> None:
        left = self._aws.drain(DRAIN_TIMEOUT_S)
        if left:
            log.warning("%d AWS requests were still being answered when the stack stopped", left)

    def _kept_state(self) -> KeptState:
        assert self.spec is not None
        tables = [table.name for table in self.spec.tables()]
        return KeptState(self.client, tables, self.spec.buckets())

    def _save_state(self) -> None:
        """Fold the journal into a snapshot; later writes still go to the new journal."""
        if self.data is None or self.spec is None or self._aws.journaling.journal is None:
            return
        self.data.compact(self._kept_state(), self._aws.journaling)

    def _close_runtime(self) -> None:
        if self.packages is not None:
            self.packages.uninstall()
            self.packages = None
        if self.iam is not None:
            self.iam.uninstall()
            self.iam = None
        if self.runtime is not None:
            self.runtime.close()
            self.runtime = None

    def _stop_aws(self) -> None:
        from vmkit_local.core.aws_server import MOTO_CONFIG

        self._aws.stop()
        if self.data is not None:
            self.data.close_journal(self._aws.journaling)
        self._aws.reset()
        self._aws.configure({**MOTO_CONFIG, "stepfunctions": {"execute_state_machine": False}})
