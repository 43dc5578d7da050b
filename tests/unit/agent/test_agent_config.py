"""Agent configuration from the environment, and the backoff it drives."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from vmkit_agent.backoff import Backoff
from vmkit_agent.config import AgentConfig, ConfigError

TOKEN = "vmka_tok1_s3cr3tvalue"


def _env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {
        "VMKIT_AGENT_TOKEN": TOKEN,
        "VMKIT_GATEWAY_URL": "wss://gw.example.com/agent",
        "VMKIT_INSTANCE_ID": "ins_01J",
        "VMKIT_ROOT": str(tmp_path),
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def test_the_environment_contract_with_its_defaults(tmp_path):
    config = AgentConfig.from_env(_env(tmp_path))

    assert config.token == TOKEN and config.instance_id == "ins_01J"
    assert config.gateway_url == "wss://gw.example.com/agent"
    assert (config.log_level, config.heartbeat_seconds, config.max_connection_seconds) == (
        "info",
        240.0,
        6600.0,
    )
    assert config.root == tmp_path.resolve() and config.sandbox


def test_root_slash_is_the_real_host(tmp_path):
    assert not AgentConfig.from_env(_env(tmp_path, VMKIT_ROOT="/")).sandbox


def test_overrides_are_read(tmp_path):
    config = AgentConfig.from_env(
        _env(
            tmp_path,
            VMKIT_LOG_LEVEL="DEBUG",
            VMKIT_HEARTBEAT_SECONDS="0.5",
            VMKIT_MAX_CONNECTION_SECONDS="30",
        )
    )
    assert (config.log_level, config.heartbeat_seconds, config.max_connection_seconds) == (
        "debug",
        0.5,
        30.0,
    )


def test_the_token_never_shows_in_the_repr(tmp_path):
    assert TOKEN not in repr(AgentConfig.from_env(_env(tmp_path)))


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"VMKIT_AGENT_TOKEN": ""}, "VMKIT_AGENT_TOKEN is not set"),
        ({"VMKIT_AGENT_TOKEN": "vmk_apikey_instead"}, "does not look like an agent token"),
        ({"VMKIT_AGENT_TOKEN": "vmka_a b"}, "does not look like an agent token"),
        ({"VMKIT_GATEWAY_URL": "https://gw.example.com"}, "ws:// or wss://"),
        ({"VMKIT_GATEWAY_URL": "wss://gw example"}, "ws:// or wss://"),
        ({"VMKIT_INSTANCE_ID": "../etc"}, "not a valid instance id"),
        ({"VMKIT_LOG_LEVEL": "loud"}, "VMKIT_LOG_LEVEL must be one of"),
        ({"VMKIT_HEARTBEAT_SECONDS": "soon"}, "must be a number of seconds"),
        ({"VMKIT_HEARTBEAT_SECONDS": "0"}, "must be a positive number"),
        ({"VMKIT_MAX_CONNECTION_SECONDS": "inf"}, "must be a positive number"),
        ({"VMKIT_ROOT": "/definitely/not/here"}, "is not a directory"),
    ],
)
def test_a_bad_environment_is_refused_naming_the_variable(tmp_path, overrides, problem):
    with pytest.raises(ConfigError, match=problem) as refused:
        AgentConfig.from_env(_env(tmp_path, **overrides))
    assert "s3cr3t" not in str(refused.value)


def test_backoff_ceiling_doubles_up_to_the_cap_and_resets():
    backoff = Backoff(0.5, 4.0, random.Random(7))
    ceilings = []
    for _ in range(6):
        ceilings.append(backoff.ceiling())
        backoff.next_delay()

    assert ceilings == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.ceiling() == 0.5


def test_backoff_delays_are_spread_over_the_whole_window():
    backoff = Backoff(1.0, 1.0, random.Random(1))
    delays = [backoff.next_delay() for _ in range(2000)]

    assert all(0.0 <= d <= 1.0 for d in delays)
    assert min(delays) < 0.05 and max(delays) > 0.95  # full jitter, not ±10 % around 1 s


def test_backoff_survives_thousands_of_attempts():
    backoff = Backoff(1.0, 60.0)
    for _ in range(5000):
        assert 0.0 <= backoff.next_delay() <= 60.0
