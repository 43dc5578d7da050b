"""Profiles in config.toml, and which VMKit a command talks to."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from vmkit_cli import connection, localstack, profiles
from vmkit_cli.errors import CliError, UsageError


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv(profiles.PROFILE_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(localstack, "_CHECKOUT", tmp_path / "no-checkout")
    return tmp_path / "home"


def _running_stack(directory: Path, **facts: object) -> Path:
    state = directory / ".vmkit" / "local.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(
        json.dumps(
            {"rest_url": "http://127.0.0.1:1", "api_key": "vmk_a_b", "pid": os.getpid(), **facts}
        )
    )
    return state


def _save(**named: profiles.Profile) -> profiles.Config:
    config = profiles.load()
    config.profiles.update(named)
    config.current = next(iter(named), None)
    config.save()
    return config


def test_the_file_is_private_and_round_trips(home):
    config = _save(prod=profiles.Profile(url="https://api.example", key='vmk_k_"quoted"'))
    assert config.path == home / ".config" / "vmkit" / "config.toml"
    assert config.path.stat().st_mode & 0o777 == 0o600
    assert config.path.parent.stat().st_mode & 0o777 == 0o700
    again = profiles.load()
    assert again.current == "prod" and again.profiles["prod"].key == 'vmk_k_"quoted"'


def test_xdg_config_home_is_respected(home, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert profiles.config_path() == tmp_path / "xdg" / "vmkit" / "config.toml"


def test_an_older_file_with_loose_bits_is_tightened(home):
    path = profiles.config_path()
    path.parent.mkdir(parents=True)
    path.write_text("")
    path.chmod(0o644)
    _save(x=profiles.Profile(url="u", key="k"))
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_broken_file_is_one_clear_error(home):
    path = profiles.config_path()
    path.parent.mkdir(parents=True)
    path.write_text("current = [unclosed")
    with pytest.raises(CliError) as raised:
        profiles.load()
    assert str(path) in raised.value.line() and "\n" not in raised.value.line()


def test_the_order_flag_then_environment_then_current_then_the_stack_here(
    home, tmp_path, monkeypatch
):
    _running_stack(tmp_path)
    found = connection.resolve(None)  # nothing configured: the local stack here
    assert found.profile is None and found.key == "vmk_a_b"
    _save(
        current=profiles.Profile(url="https://current", key="k1"),
        other=profiles.Profile(url="https://other", key="k2"),
        third=profiles.Profile(url="https://third", key="k3"),
    )
    assert connection.resolve(None).url == "https://current"
    monkeypatch.setenv(profiles.PROFILE_ENV, "other")
    assert connection.resolve(None).url == "https://other"
    assert connection.resolve("third").url == "https://third"
    with pytest.raises(UsageError) as raised:
        connection.resolve("missing")
    assert "vmkit login --profile missing" in raised.value.line()


def test_the_stack_is_found_from_a_subdirectory(home, tmp_path):
    state = _running_stack(tmp_path)
    deep = tmp_path / "src" / "app"
    deep.mkdir(parents=True)
    assert localstack.find(deep).path == state


def test_a_stack_whose_process_is_gone_is_not_found(home, tmp_path):
    _running_stack(tmp_path, pid=2**22 + 1)  # above Linux's pid_max default
    with pytest.raises(CliError) as raised:
        connection.resolve(None)
    assert "vmkit local up" in raised.value.line() and "vmkit login --url" in raised.value.line()


def test_a_local_profile_reads_the_current_key_from_the_stack(home, tmp_path):
    state = _running_stack(tmp_path, api_key="vmk_first_key")
    _save(local=profiles.Profile(local_state=str(state)))
    assert connection.resolve(None).key == "vmk_first_key"
    _running_stack(tmp_path, api_key="vmk_after_a_restart")
    assert connection.resolve(None).key == "vmk_after_a_restart"
    state.unlink()
    with pytest.raises(CliError) as raised:
        connection.resolve(None)
    assert "not running" in raised.value.message and "vmkit local up" in raised.value.line()


def test_a_profile_without_a_key_says_how_to_log_in(home):
    _save(half=profiles.Profile(url="https://x"))
    with pytest.raises(CliError) as raised:
        connection.resolve(None)
    assert "vmkit login --profile half" in raised.value.line()
