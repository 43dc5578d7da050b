"""`vmkit-agent`: read the environment, set up logging, run until stopped or upgraded."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from vmkit_agent.client import Agent
from vmkit_agent.config import IDLE_LIMIT_MARGIN_SECONDS, AgentConfig, ConfigError
from vmkit_agent.host import make_host
from vmkit_agent.logsetup import configure_logging
from vmkit_agent.redact import Redactor

log = logging.getLogger("vmkit_agent")

EXIT_CONFIG = 2  # systemd restarts the unit anyway; the journal shows why it stopped


def main() -> int:
    try:
        config = AgentConfig.from_env(os.environ)
    except ConfigError as exc:
        print(f"vmkit-agent: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    recent_errors = configure_logging(config.log_level, Redactor([config.token]))
    if config.heartbeat_seconds > IDLE_LIMIT_MARGIN_SECONDS:
        log.warning(
            "VMKIT_HEARTBEAT_SECONDS=%s is close to API Gateway's 10-minute idle limit",
            config.heartbeat_seconds,
        )
    host = make_host(config.root)
    if config.sandbox:
        log.info("sandbox mode: acting under %s", config.root)
    agent = Agent(config, host, recent_errors=recent_errors)
    if asyncio.run(_serve(agent)):
        host.restart_agent()
    return 0


async def _serve(agent: Agent) -> bool:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, agent.stop)
    return await agent.run()
