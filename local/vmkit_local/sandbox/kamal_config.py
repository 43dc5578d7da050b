"""`config/deploy.yml` read as `kamal deploy` reads it, for the local run to act on.

The rules are not here: the config is validated by the one port of Kamal 2's rules,
`vmkit.ai.kamal_validator`, which onboarding uses too, and a config it rejects fails
the run with Kamal's message. What is here is what running needs on top: reading the
files (ERB's ENV lookups from the deploy step's environment, a destination's file
merged over the base), the checks that depend on the invocation (`-d destination`),
and the settings a deploy acts on (hosts, proxy, env, labels, timeouts), read from the
validated config into `KamalConfig`.

What the local runner cannot do is refused here with a reason rather than ignored:
roles other than the primary one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vmkit.ai import kamal_validator
from vmkit_local.sandbox.errors import SandboxError


class KamalConfigError(SandboxError):
    """Kamal::ConfigurationError: the message is what Kamal prints after it."""


@dataclass(frozen=True)
class ProxySettings:
    hosts: list[str]
    app_port: int = 80
    ssl: bool = False
    healthcheck_path: str = "/up"
    healthcheck_timeout: int = 5  # kamal-proxy's default, seconds


@dataclass(frozen=True)
class KamalConfig:
    service: str
    image: str
    destination: str | None
    registry_server: str | None
    registry_username: str | list[str] | None
    registry_password: str | list[str] | None
    hosts: list[str]
    role: str
    cmd: str | None
    proxy: ProxySettings | None
    env_clear: dict[str, str]
    env_secret: list[str]
    labels: dict[str, str]
    ssh_user: str = "root"
    ssh_key_data: list[str] = field(default_factory=list)
    builder_arch: list[str] = field(default_factory=list)
    retain_containers: int = 5
    deploy_timeout: int = 30
    drain_timeout: int = 30
    stop_timeout: int | None = None
    secrets_path: str = ".kamal/secrets"

    @property
    def repository(self) -> str:
        return "/".join(part for part in (self.registry_server, self.image) if part)

    @property
    def container_prefix(self) -> str:
        return "-".join(part for part in (self.service, self.role, self.destination) if part)

    @property
    def lock_name(self) -> str:
        return "-".join(part for part in ("lock", self.service, self.destination) if part)


def load_config(
    checkout: Path, destination: str | None = None, env: Mapping[str, str] | None = None
) -> KamalConfig:
    """Read `config/deploy.yml` (plus `deploy.<destination>.yml`) and validate it.

    `env` is the deploy step's environment, which Kamal's ERB (`ENV.fetch`) reads.
    """
    raw = _load_file(checkout / "config/deploy.yml", env or {})
    if destination:
        raw = _deep_merge(raw, _load_file(checkout / f"config/deploy.{destination}.yml", env or {}))
    problems = kamal_validator.kamal_config_problems(raw)
    if problems:
        raise KamalConfigError("; ".join(problems))
    if raw.get("require_destination") and not destination:
        raise KamalConfigError("You must specify a destination")
    return _read(raw, destination)


def _load_file(path: Path, env: Mapping[str, str]) -> dict[str, Any]:
    if not path.is_file():
        raise KamalConfigError(f"Configuration file not found in {path.name}")
    try:
        return kamal_validator.load_kamal_config(path.read_text(), env)
    except kamal_validator.KamalConfigError as error:
        raise KamalConfigError(f"{path.name}: {error}") from None


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# the settings a deploy acts on, read from the validated config -------------------


def _read(raw: dict[str, Any], destination: str | None) -> KamalConfig:
    registry = raw["registry"]
    arch = raw["builder"]["arch"]
    role, role_config, hosts = _primary_role(raw)
    env_clear, env_secret = _env(raw.get("env") or {})
    role_clear, role_secret = _env(role_config.get("env") or {})
    ssh = raw.get("ssh") or {}
    return KamalConfig(
        service=str(raw["service"]),
        image=str(raw.get("image") or raw["service"]),  # a local registry's image may go unnamed
        destination=destination,
        registry_server=str(registry["server"]) if registry.get("server") else None,
        registry_username=registry.get("username"),
        registry_password=registry.get("password"),
        hosts=hosts,
        role=role,
        cmd=role_config.get("cmd"),
        proxy=_proxy(raw.get("proxy"), role_config.get("proxy")),
        env_clear={**env_clear, **role_clear},
        env_secret=[*env_secret, *role_secret],
        labels={
            str(k): str(v)
            for k, v in {**(raw.get("labels") or {}), **(role_config.get("labels") or {})}.items()
        },
        ssh_user=str(ssh.get("user", "root")),
        ssh_key_data=list(ssh.get("key_data") or []),
        builder_arch=[str(a) for a in (arch if isinstance(arch, list) else [arch])],
        retain_containers=raw.get("retain_containers", 5),
        deploy_timeout=raw.get("deploy_timeout", 30),
        drain_timeout=raw.get("drain_timeout", 30),
        stop_timeout=role_config.get("stop_timeout", raw.get("stop_timeout")),
        secrets_path=str(raw.get("secrets_path", ".kamal/secrets")),
    )


def _primary_role(raw: dict[str, Any]) -> tuple[str, dict[str, Any], list[str]]:
    """The primary role's name, settings and hosts (`servers` may be a plain host list)."""
    servers = raw["servers"]
    primary = str(raw.get("primary_role", "web"))
    roles: dict[str, Any] = {"web": servers} if isinstance(servers, list) else servers
    others = [str(role) for role in roles if role != primary]
    if others:
        raise KamalConfigError(
            f"role(s) {', '.join(others)}: the local runner deploys only the primary role "
            f"({primary}); run other processes from the same Procfile in one role locally"
        )
    role_config = roles[primary]
    host_list = role_config if isinstance(role_config, list) else role_config.get("hosts") or []
    hosts = [str(next(iter(h))) if isinstance(h, dict) else str(h) for h in host_list]
    return primary, ({} if isinstance(role_config, list) else role_config), hosts


def _proxy(top: Any, role: Any) -> ProxySettings | None:
    """The role's kamal-proxy settings: the role's own merged over the top-level ones."""
    if role is False:
        return None
    config = _deep_merge(
        top if isinstance(top, dict) else {}, role if isinstance(role, dict) else {}
    )
    hosts = config.get("hosts") or [h for h in str(config.get("host", "")).split(",") if h]
    healthcheck = config.get("healthcheck") or {}
    return ProxySettings(
        hosts=[str(h) for h in hosts],
        app_port=config.get("app_port", 80),
        ssl=bool(config.get("ssl", False)),
        healthcheck_path=str(healthcheck.get("path", "/up")),
        healthcheck_timeout=healthcheck.get("timeout", 5),
    )


def _env(env: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    if not set(env) & kamal_validator.ENV_KEYS:
        return {str(k): _stringify(v) for k, v in env.items()}, []
    clear = {str(k): _stringify(v) for k, v in (env.get("clear") or {}).items()}
    return clear, [str(s) for s in env.get("secret") or []]


def _stringify(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
