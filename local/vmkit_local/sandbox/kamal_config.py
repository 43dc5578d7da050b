"""`config/deploy.yml` read and checked with Kamal 2's rules, as `kamal deploy` would.

Kamal validates a config against documented examples: unknown keys are errors, each
value must have the example's type (strings also accept numbers and booleans), and a
few rules span keys (a host for SSL, one of host/hosts, a builder arch, the primary
role). Messages use Kamal's wording and `section/key: ...` context, so a config that
fails here fails on GitHub with the same line.

What the local runner cannot do is refused here with a reason rather than ignored:
ERB templates and roles other than the primary `web` role.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vmkit.ai.kamal_validator import render_erb
from vmkit_local.sandbox.errors import SandboxError


class KamalConfigError(SandboxError):
    """Kamal::ConfigurationError: the message is what Kamal prints after it."""


# Types of the documented examples. A dict is a nested section checked key by key.
STR, INT, BOOL, HASH = "a string", "an integer", "a boolean", "a hash"


def _list(item: str) -> tuple[str, str]:
    return ("list", item)


def _either(*kinds: Any) -> tuple[Any, ...]:
    return ("either", *kinds)


_HEALTHCHECK = {"interval": INT, "path": STR, "timeout": INT}
_PROXY = {
    "host": STR,
    "hosts": _list(STR),
    "app_port": INT,
    "ssl": _either(BOOL, {"certificate_pem": STR, "private_key_pem": STR}),
    "ssl_redirect": BOOL,
    "forward_headers": BOOL,
    "response_timeout": INT,
    "path_prefix": STR,
    "path_prefixes": _list(STR),
    "strip_path_prefix": BOOL,
    "healthcheck": _HEALTHCHECK,
    "buffering": {
        "requests": BOOL,
        "responses": BOOL,
        "max_request_body": INT,
        "max_response_body": INT,
        "memory": INT,
    },
    "logging": {"request_headers": _list(STR), "response_headers": _list(STR)},
    "run": HASH,
}
_ENV = "env"  # simple hash of strings, or clear/secret/tags
_SERVERS = "servers"  # list of hosts, or roles
_SCHEMA: dict[str, Any] = {
    "service": STR,
    "image": STR,
    "labels": HASH,
    "volumes": _list(STR),
    "registry": {
        "server": STR,
        "username": _either(STR, _list(STR)),
        "password": _either(STR, _list(STR)),
    },
    "servers": _SERVERS,
    "env": _ENV,
    "asset_path": STR,
    "hooks_path": STR,
    "hooks_output": _either(STR, HASH),
    "secrets_path": STR,
    "error_pages_path": STR,
    "require_destination": BOOL,
    "primary_role": STR,
    "allow_empty_roles": BOOL,
    "retain_containers": INT,
    "minimum_version": STR,
    "readiness_delay": INT,
    "deploy_timeout": INT,
    "drain_timeout": INT,
    "stop_timeout": INT,
    "run_directory": STR,
    "ssh": {
        "user": STR,
        "port": STR,
        "proxy": STR,
        "proxy_command": STR,
        "log_level": STR,
        "keys_only": BOOL,
        "keys": _list(STR),
        "key_data": _list(STR),
        "config": _either(BOOL, STR, _list(STR)),
        "forward_agent": BOOL,
    },
    "builder": {
        "arch": _either(STR, _list(STR)),
        "remote": STR,
        "local": BOOL,
        "pack": {"builder": STR, "buildpacks": _list(STR)},
        "cache": {"type": STR, "options": STR, "image": STR},
        "context": STR,
        "dockerfile": STR,
        "target": STR,
        "args": HASH,
        "secrets": _list(STR),
        "ssh": STR,
        "driver": STR,
        "provenance": STR,
        "sbom": BOOL,
    },
    "accessories": HASH,
    "proxy": _either(BOOL, _PROXY),
    "sshkit": HASH,
    "boot": HASH,
    "logging": HASH,
    "output": HASH,
    "aliases": HASH,
}
_ROLE = {
    "hosts": _SERVERS,
    "cmd": STR,
    "stop_timeout": INT,
    "options": HASH,
    "logging": HASH,
    "proxy": _either(BOOL, _PROXY),
    "labels": HASH,
    "env": _ENV,
    "asset_path": STR,
}
_SERVICE_NAME = re.compile(r"^[a-z0-9_-]+$", re.IGNORECASE)


@dataclass(frozen=True)
class ProxySettings:
    hosts: list[str]
    app_port: int = 80
    ssl: bool = False
    custom_certificate: bool = False
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
    _check(raw, _SCHEMA, "", allow_extensions=True)
    return _build(raw, destination)


def _load_file(path: Path, env: Mapping[str, str]) -> dict[str, Any]:
    if not path.is_file():
        raise KamalConfigError(f"Configuration file not found in {path.name}")
    try:
        # Kamal renders deploy.yml as ERB first; the ENV lookups are the part we render.
        text = render_erb(path.read_text(), env)
    except ValueError as error:
        raise KamalConfigError(f"{path.name}: {error}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise KamalConfigError(f"{path.name} is not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise KamalConfigError(f"{path.name} should be a hash")
    return raw


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# validation against the example types -------------------------------------------------


def _check(value: Any, kind: Any, context: str, allow_extensions: bool = False) -> None:
    if isinstance(kind, dict):
        _require_type(value, HASH, context)
        keys = [k for k in value if not (allow_extensions and str(k).startswith("x-"))]
        unknown = [str(k) for k in keys if k not in kind]
        if unknown:
            noun = "key" if len(unknown) == 1 else "keys"
            _fail(context, f"unknown {noun}: {', '.join(unknown)}")
        for key in keys:
            _check(value[key], kind[key], _join(context, key))
    elif kind == _ENV:
        _check_env(value, context)
    elif kind == _SERVERS:
        _check_servers(value, context)
    elif isinstance(kind, tuple) and kind[0] == "either":
        # The option of the value's own shape decides, so a hash gets the hash's errors
        # ("proxy: unknown key: ...") rather than a vague "should be a boolean or a hash".
        options = kind[1:]
        matching = [option for option in options if _same_shape(value, option)]
        if not matching:
            _fail(context, "should be " + " or ".join(dict.fromkeys(_describe(o) for o in options)))
        _check(value, matching[0], context)
    elif isinstance(kind, tuple) and kind[0] == "list":
        _require_type(value, "an array", context)
        for index, item in enumerate(value):
            _check(item, kind[1], _join(context, index))
    else:
        _require_type(value, kind, context)


def _check_env(value: Any, context: str) -> None:
    _require_type(value, HASH, context)
    special = {"clear", "secret", "tags"}
    if not set(value) & special:
        for key, item in value.items():
            _require_type(item, STR, _join(context, key))
        return
    unknown = [str(k) for k in value if k not in special]
    if unknown:
        _fail(context, f"unknown {'key' if len(unknown) == 1 else 'keys'}: {', '.join(unknown)}")
    if "clear" in value:
        _require_type(value["clear"], HASH, _join(context, "clear"))
        for key, item in value["clear"].items():
            _require_type(item, STR, _join(_join(context, "clear"), key))
    if "secret" in value:
        _check(value["secret"], _list(STR), _join(context, "secret"))
    if "tags" in value:
        _require_type(value["tags"], HASH, _join(context, "tags"))


def _check_servers(value: Any, context: str) -> None:
    if isinstance(value, dict) and context == "servers":
        for role, role_config in value.items():
            role_context = _join(context, role)
            if isinstance(role_config, list):
                _check_hosts(role_config, role_context)
            else:
                _check(role_config, _ROLE, role_context)
        return
    _check_hosts(value, context)


def _check_hosts(value: Any, context: str) -> None:
    _require_type(value, "an array", context)
    for index, host in enumerate(value):
        host_context = _join(context, index)
        if isinstance(host, dict):
            if len(host) != 1:
                _fail(host_context, "multiple hosts found")
            name, tags = next(iter(host.items()))
            _check(tags, _either(STR, _list(STR)), _join(host_context, name))
        else:
            _require_type(host, STR, host_context)


def _require_type(value: Any, kind: str, context: str) -> None:
    checks = {
        STR: lambda v: isinstance(v, str | int | float | bool),
        INT: lambda v: isinstance(v, int) and not isinstance(v, bool),
        BOOL: lambda v: isinstance(v, bool),
        HASH: lambda v: isinstance(v, dict),
        "an array": lambda v: isinstance(v, list),
    }
    if not checks[kind](value):
        _fail(context, f"should be {kind}")


def _same_shape(value: Any, kind: Any) -> bool:
    if isinstance(kind, dict) or kind == HASH:
        return isinstance(value, dict)
    if isinstance(kind, tuple):
        return isinstance(value, list)
    if kind == BOOL:
        return isinstance(value, bool)
    return not isinstance(value, dict | list)


def _describe(kind: Any) -> str:
    if isinstance(kind, dict):
        return HASH
    if isinstance(kind, tuple):
        return "an array" if kind[0] == "list" else " or ".join(_describe(k) for k in kind[1:])
    return kind


def _join(context: str, key: Any) -> str:
    return f"{context}/{key}" if context else str(key)


def _fail(context: str, message: str) -> None:
    raise KamalConfigError(f"{context}: {message}" if context else message)


# the checks that span keys, then the typed result ----------------------------------


def _build(raw: dict[str, Any], destination: str | None) -> KamalConfig:
    for key in ("service", "registry"):
        if not raw.get(key):
            raise KamalConfigError(f"Missing required configuration for {key}")
    if not raw.get("image"):
        raise KamalConfigError("Missing required configuration for image")
    if not _SERVICE_NAME.match(str(raw["service"])):
        raise KamalConfigError(
            "Service name can only include alphanumeric characters, hyphens, and underscores"
        )
    if raw.get("require_destination") and not destination:
        raise KamalConfigError("You must specify a destination")
    if raw.get("retain_containers", 5) < 1:
        raise KamalConfigError("Must retain at least 1 container")
    registry = raw["registry"]
    _check_registry(registry)
    builder = raw.get("builder") or {}
    if not builder.get("arch"):
        raise KamalConfigError("builder: Builder arch not set")
    arch = builder["arch"] if isinstance(builder["arch"], list) else [builder["arch"]]
    if builder.get("pack") and len(arch) > 1:
        raise KamalConfigError("builder: buildpacks only support building for one arch")
    role, role_config, hosts = _primary_role(raw)
    proxy = _proxy(raw.get("proxy"), role_config.get("proxy"), role)
    if proxy and proxy.ssl and not proxy.custom_certificate and len(hosts) > 1:
        raise KamalConfigError(
            "SSL is only supported on a single server unless you provide custom certificates, "
            f"found {len(hosts)} servers for role {role}"
        )
    env_clear, env_secret = _env(raw.get("env") or {})
    role_clear, role_secret = _env(role_config.get("env") or {})
    ssh = raw.get("ssh") or {}
    return KamalConfig(
        service=str(raw["service"]),
        image=str(raw["image"]),
        destination=destination,
        registry_server=str(registry["server"]) if registry.get("server") else None,
        registry_username=registry.get("username"),
        registry_password=registry.get("password"),
        hosts=hosts,
        role=role,
        cmd=role_config.get("cmd"),
        proxy=proxy,
        env_clear={**env_clear, **role_clear},
        env_secret=[*env_secret, *role_secret],
        labels={
            str(k): str(v)
            for k, v in {**(raw.get("labels") or {}), **(role_config.get("labels") or {})}.items()
        },
        ssh_user=str(ssh.get("user", "root")),
        ssh_key_data=list(ssh.get("key_data") or []),
        builder_arch=[str(a) for a in arch],
        retain_containers=raw.get("retain_containers", 5),
        deploy_timeout=raw.get("deploy_timeout", 30),
        drain_timeout=raw.get("drain_timeout", 30),
        stop_timeout=role_config.get("stop_timeout", raw.get("stop_timeout")),
        secrets_path=str(raw.get("secrets_path", ".kamal/secrets")),
    )


def _check_registry(registry: dict[str, Any]) -> None:
    if re.match(r"^localhost[:$]", str(registry.get("server", ""))):
        return
    for key in ("username", "password"):
        value = registry.get(key)
        if not value:
            raise KamalConfigError(f"registry/{key}: is required")
        if isinstance(value, list) and (len(value) != 1 or not isinstance(value[0], str)):
            raise KamalConfigError(
                f"registry/{key}: should be a string or an array with one string "
                "(for secret lookup)"
            )


def _primary_role(raw: dict[str, Any]) -> tuple[str, dict[str, Any], list[str]]:
    servers = raw.get("servers")
    if servers is None:
        raise KamalConfigError("No servers or accessories specified")
    primary = str(raw.get("primary_role", "web"))
    if isinstance(servers, list):
        roles: dict[str, Any] = {"web": servers}
    else:
        roles = servers
    if primary not in roles:
        raise KamalConfigError(f"The primary_role {primary} isn't defined")
    others = [str(role) for role in roles if role != primary]
    if others:
        raise KamalConfigError(
            f"role(s) {', '.join(others)}: the local runner deploys only the primary role "
            f"({primary}); run other processes from the same Procfile in one role locally"
        )
    role_config = roles[primary]
    host_list = role_config if isinstance(role_config, list) else role_config.get("hosts") or []
    hosts = [str(next(iter(h))) if isinstance(h, dict) else str(h) for h in host_list]
    if not hosts:
        raise KamalConfigError(f"No servers specified for the {primary} primary_role")
    return primary, ({} if isinstance(role_config, list) else role_config), hosts


def _proxy(top: Any, role: Any, role_name: str) -> ProxySettings | None:
    if role is False:
        return None
    config = _deep_merge(
        top if isinstance(top, dict) else {}, role if isinstance(role, dict) else {}
    )
    context = "proxy" if not isinstance(role, dict) else f"servers/{role_name}/proxy"
    if "host" in config and "hosts" in config:
        raise KamalConfigError(f"{context}: Specify one of 'host' or 'hosts', not both")
    hosts = config.get("hosts") or [h for h in str(config.get("host", "")).split(",") if h]
    ssl = config.get("ssl", False)
    if ssl and not hosts:
        raise KamalConfigError(f"{context}: Must set a host to enable automatic SSL")
    pems = (ssl.get("certificate_pem"), ssl.get("private_key_pem")) if isinstance(ssl, dict) else ()
    if pems and bool(pems[0]) != bool(pems[1]):
        missing = "private_key_pem" if ssl.get("certificate_pem") else "certificate_pem"
        raise KamalConfigError(f"{context}: Missing {missing} setting")
    healthcheck = config.get("healthcheck") or {}
    return ProxySettings(
        hosts=[str(h) for h in hosts],
        app_port=config.get("app_port", 80),
        ssl=bool(ssl),
        custom_certificate=bool(pems) and all(pems),
        healthcheck_path=str(healthcheck.get("path", "/up")),
        healthcheck_timeout=healthcheck.get("timeout", 5),
    )


def _env(env: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    if not set(env) & {"clear", "secret", "tags"}:
        return {str(k): _stringify(v) for k, v in env.items()}, []
    clear = {str(k): _stringify(v) for k, v in (env.get("clear") or {}).items()}
    return clear, [str(s) for s in env.get("secret") or []]


def _stringify(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
