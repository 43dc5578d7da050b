"""`python -m vmkit_local`: run the local stack until Ctrl-C or SIGTERM.

`vmkit local up` wraps `main` (or builds a `LocalStack` and calls `serve`).
"""

from __future__ import annotations

import argparse
import logging
import pkgutil
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from vmkit_local.core.asgi import AppSpec
from vmkit_local.core.errors import LocalStackError
from vmkit_local.core.stack import LocalStack, StackConfig
from vmkit_local.core.websocket import GatewayLimits

log = logging.getLogger("vmkit_local")
STOP_BUDGET_S = 10.0  # a stop ends every thread and process within this
SIGNAL_CHECK_S = 0.25  # how soon the main thread notices a signal another thread took


def _pairs(values: Sequence[str], option: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, separator, rest = value.partition("=")
        if not separator or not name:
            raise SystemExit(f"{option} takes NAME=VALUE, got {value!r}")
        pairs[name] = rest
    return pairs


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vmkit_local", description=__doc__.splitlines()[0])
    parser.add_argument("--template", type=Path, default=Path("template.yaml"))
    parser.add_argument("--data-dir", type=Path, default=Path(".vmkit/data"))
    parser.add_argument("--no-data-dir", action="store_true", help="keep nothing across restarts")
    parser.add_argument("--state-file", type=Path, default=Path(".vmkit/local.json"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--aws-port", type=int, default=0)
    parser.add_argument("--ws-port", type=int, default=0)
    parser.add_argument("--management-port", type=int, default=0)
    parser.add_argument("--stack-name", default="vmkit-local")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--app", action="append", default=[], metavar="NAME=MODULE:ATTR")
    parser.add_argument("--app-factory", action="append", default=[], metavar="NAME=MODULE:FUNC")
    parser.add_argument("--api-app", action="append", default=[], metavar="LOGICAL_ID=APP")
    parser.add_argument("--secret", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument(
        "--services", metavar="MODULE:FACTORY", help="callable returning the extra services to run"
    )
    parser.add_argument(
        "--on-ready",
        metavar="MODULE:FUNC",
        help="called with the stack once ready (returns local.json extras)",
    )
    parser.add_argument("--idle-timeout", type=float, default=GatewayLimits.idle_timeout_s)
    parser.add_argument("--max-connection", type=float, default=GatewayLimits.max_connection_s)
    parser.add_argument(
        "--schedule-every",
        type=float,
        metavar="SECONDS",
        help="fire every Schedule event at this period instead of its rate",
    )
    parser.add_argument("--log-level", default="INFO")
    return parser


def stack_from_args(args: argparse.Namespace) -> LocalStack:
    config, apps = config_from_args(args)
    services = pkgutil.resolve_name(args.services)() if args.services else ()
    on_ready = pkgutil.resolve_name(args.on_ready) if args.on_ready else None
    return LocalStack(config, apps=apps, services=services, on_ready=on_ready)


def config_from_args(args: argparse.Namespace) -> tuple[StackConfig, dict[str, AppSpec]]:
    apps = {name: AppSpec(target) for name, target in _pairs(args.app, "--app").items()}
    apps |= {
        name: AppSpec(target, factory=True)
        for name, target in _pairs(args.app_factory, "--app-factory").items()
    }
    config = StackConfig(
        template=args.template,
        data_dir=None if args.no_data_dir else args.data_dir,
        state_file=args.state_file,
        host=args.host,
        aws_port=args.aws_port,
        websocket_port=args.ws_port,
        management_port=args.management_port,
        stack_name=args.stack_name,
        region=args.region,
        parameter_overrides=_pairs(args.param, "--param"),
        api_apps=_pairs(args.api_app, "--api-app"),
        secret_values=_pairs(args.secret, "--secret"),
        limits=GatewayLimits(
            idle_timeout_s=args.idle_timeout, max_connection_s=args.max_connection
        ),
        schedule_every_s=args.schedule_every,
    )
    return config, apps


def serve(stack: LocalStack) -> None:
    """Start `stack`, print where it is, and stop it cleanly on SIGINT or SIGTERM."""
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        stack.start()
        for key in (
            "aws_endpoint_url",
            "rest_url",
            "mcp_url",
            "ws_url",
            "ws_management_url",
            "apps_url",
        ):
            if stack.local_json.get(key):
                print(f"{key:18} {stack.local_json[key]}", flush=True)
        if stack.local_json.get("api_key"):
            print(f"{'api_key':18} {stack.local_json['api_key']}", flush=True)
        print(f"ready in {stack.startup_seconds:.1f} s; Ctrl-C to stop", flush=True)
        # Python runs signal handlers on the main thread, between bytecodes. A signal
        # the kernel hands to another thread (moto's, the gateway's: likelier under
        # load) only flags it, and a main thread blocked in an untimed wait would never
        # look: waiting in short slices lets it see SIGTERM within one.
        while not stop.wait(SIGNAL_CHECK_S):
            pass
    finally:
        stopping = time.monotonic()
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        # Threads finishing what they were doing (a handler, a moto task) get the rest of
        # the stop's time budget; one still running after it is a bug worth a line.
        for thread in threading.enumerate():
            if thread is not threading.main_thread():
                thread.join(max(0.0, stopping + STOP_BUDGET_S - time.monotonic()))
        leftover = sorted(t.name for t in threading.enumerate() if t is not threading.main_thread())
        if leftover:
            log.warning("threads still running after stop: %s", ", ".join(leftover))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    try:
        serve(stack_from_args(args))
    except LocalStackError as exc:
        print(f"vmkit_local: {exc}", file=sys.stderr)
        return 1
    return 0
