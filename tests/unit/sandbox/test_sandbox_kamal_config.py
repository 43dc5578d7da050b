"""config/deploy.yml read for a run: validated by the layer's Kamal 2 rules, then typed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from vmkit_local.sandbox.kamal_config import KamalConfigError, load_config

BASE: dict[str, Any] = {
    "service": "invoicer",
    "image": "acme/invoicer",
    "servers": {"web": {"hosts": ["203.0.113.5"]}},
    "proxy": {"host": "invoicer-production.vmkit.app", "ssl": True, "app_port": 3000},
    "registry": {"server": "ghcr.io", "username": "acme", "password": ["KAMAL_REGISTRY_PASSWORD"]},
    "builder": {"arch": "arm64"},
    "ssh": {"user": "kamal"},
    "env": {"clear": {"PORT_HINT": 3000, "DEBUG": False}, "secret": ["DB_PASSWORD:MAIN_DB"]},
}


def write(checkout: Path, config: dict[str, Any], name: str = "deploy.yml") -> Path:
    (checkout / "config").mkdir(exist_ok=True)
    (checkout / "config" / name).write_text(yaml.safe_dump(config))
    return checkout


def test_a_generated_config_loads_into_typed_settings(tmp_path: Path):
    config = load_config(write(tmp_path, BASE))

    assert config.repository == "ghcr.io/acme/invoicer"
    assert config.hosts == ["203.0.113.5"]
    assert config.container_prefix == "invoicer-web"
    assert config.proxy is not None
    assert config.proxy.hosts == ["invoicer-production.vmkit.app"]
    assert (config.proxy.app_port, config.proxy.ssl, config.proxy.healthcheck_path) == (
        3000,
        True,
        "/up",
    )
    assert config.env_clear == {"PORT_HINT": "3000", "DEBUG": "false"}
    assert config.env_secret == ["DB_PASSWORD:MAIN_DB"]
    assert (config.ssh_user, config.deploy_timeout, config.drain_timeout) == ("kamal", 30, 30)


def test_servers_as_a_plain_list_and_x_extensions_are_accepted(tmp_path: Path):
    servers = ["203.0.113.7", {"203.0.113.8": "tag"}]
    proxy = {"host": "invoicer.localhost"}  # Kamal allows automatic SSL on one server only
    config = load_config(write(tmp_path, {**BASE, "servers": servers, "proxy": proxy, "x-a": {}}))

    assert config.hosts == ["203.0.113.7", "203.0.113.8"]
    assert config.role == "web"


def test_a_destination_file_is_merged_over_the_base(tmp_path: Path):
    write(tmp_path, BASE)
    write(tmp_path, {"proxy": {"host": "invoicer-staging.vmkit.app"}}, "deploy.staging.yml")

    config = load_config(tmp_path, "staging")

    assert config.proxy is not None and config.proxy.hosts == ["invoicer-staging.vmkit.app"]
    assert config.container_prefix == "invoicer-web-staging"
    assert config.lock_name == "lock-invoicer-staging"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"proxy": {"ssl": True}}, "proxy: Must set a host to enable automatic SSL"),
        ({"proxy": "yes"}, "proxy: should be a boolean or a hash"),
        (
            {"proxy": {"host": "a", "healthcheck": {"path": 5, "intervl": 1}}},
            "proxy/healthcheck: unknown key: intervl",
        ),
        (
            {"builder": {"arch": ["amd64", "arm64"], "pack": {"builder": "x"}}},
            "buildpacks only support building for one arch",
        ),
        (
            {"servers": {"web": {"hosts": ["a"], "cmd": ["x"]}}},
            "servers/web/cmd: should be a string",
        ),
        ({"servers": {"web": [{"a": 1, "b": 2}]}}, "servers/web/0: multiple hosts found"),
        ({"servers": {"web": []}}, "No servers specified for the web primary_role"),
        ({"servers": None}, "No servers or accessories specified"),
        ({"servers": ["a", "b"]}, "SSL is only supported on a single server"),
        ({"env": {"clear": {"A": 1}, "other": {}}}, "env: unknown key: other"),
        (
            {"registry": {"server": "ghcr.io", "username": "a", "password": ["A", "B"]}},
            "registry/password: should be a string or an array with one string",
        ),
        ({"retain_containers": 0}, "Must retain at least 1 container"),
        ({"require_destination": True}, "You must specify a destination"),
        ({"servicee": "typo"}, "unknown key: servicee"),
        (
            {"servers": {"web": ["a"], "jobs": ["b"]}},
            "role(s) jobs: the local runner deploys only the primary role",
        ),
    ],
)
def test_invalid_configs_fail_with_kamals_message(tmp_path: Path, change: dict, message: str):
    config = {key: value for key, value in {**BASE, **change}.items() if value is not None}

    with pytest.raises(KamalConfigError) as error:
        load_config(write(tmp_path, config))

    assert message in error.value.message


def test_a_destination_file_is_validated_merged_with_the_base(tmp_path: Path):
    write(tmp_path, BASE)
    write(tmp_path, {"deploy_timeout": "soon", "proxy": {"hosts": ["b"]}}, "deploy.staging.yml")

    with pytest.raises(KamalConfigError) as error:
        load_config(tmp_path, "staging")

    assert "deploy_timeout: should be an integer" in error.value.message
    assert "proxy: Specify one of 'host' or 'hosts', not both" in error.value.message


def test_erb_env_lookups_read_the_deploy_steps_environment(tmp_path: Path):
    text = yaml.safe_dump({**BASE, "service": "SERVICE"}).replace(
        "SERVICE", '<%= ENV.fetch("APP_NAME") %>'
    )
    (tmp_path / "config").mkdir()
    (tmp_path / "config/deploy.yml").write_text(text)

    assert load_config(tmp_path, env={"APP_NAME": "billing"}).service == "billing"
    with pytest.raises(KamalConfigError, match="environment variable APP_NAME is not set"):
        load_config(tmp_path, env={})


def test_erb_that_is_not_an_env_lookup_is_refused(tmp_path: Path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config/deploy.yml").write_text("service: <%= `hostname` %>\n")

    with pytest.raises(KamalConfigError, match="only ENV lookups are allowed"):
        load_config(tmp_path)


def test_yaml_that_does_not_parse_is_reported(tmp_path: Path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config/deploy.yml").write_text("service: [unclosed\n")

    with pytest.raises(KamalConfigError, match="not valid YAML"):
        load_config(tmp_path)
