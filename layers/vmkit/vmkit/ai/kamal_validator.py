"""Kamal 2's configuration rules, in Python, for configs VMKit generates or accepts.

Kamal itself is a Ruby gem we cannot run on the control plane, so these are its
checks that matter for a deploy that must work the first time, ported from
basecamp/kamal (lib/kamal/configuration.rb and configuration/validator/*.rb, 2.12):
unknown keys, each value of its documented example's type, required keys (service,
image, servers, registry), the primary role having hosts, builder arch set,
buildpacks building one arch, proxy ssl needing a host (and both PEMs), at least one
retained container, env and registry secrets present in `.kamal/secrets`,
accessories placed on a host. Messages follow Kamal's own wording, prefixed with the
key path. These are the only Kamal rules in the tree: the local sandbox that plays
`kamal deploy` validates with them too (`kamal_config_problems`).

Kamal renders a config as ERB before parsing it; `load_kamal_config` renders the
subset VMKit uses (ENV lookups) and refuses any other Ruby.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable, Mapping
from typing import Any

import yaml

_ERB = re.compile(r"<%(=?)-?\s*(.*?)\s*-?%>", re.DOTALL)
_ENV_LOOKUP = re.compile(
    r"""^ENV(?:\.fetch\(\s*["']([A-Z_][A-Z0-9_]*)["']\s*(?:,\s*["']([^"']*)["']\s*)?\)"""
    r"""|\[\s*["']([A-Z_][A-Z0-9_]*)["']\s*\])$"""
)
_SERVICE_NAME = re.compile(r"^[a-z0-9_-]+$", re.IGNORECASE)
_SECRET_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_FROM_ENVIRONMENT = re.compile(
    r"^(?:\$[A-Za-z_][A-Za-z0-9_]*|\$\{[A-Za-z_][A-Za-z0-9_]*\}|\$\(.+\))$"
)

# The documented examples' types, which Kamal's validator checks values against. A
# dict is a section checked key by key (unknown keys are errors); a tuple lists the
# shapes a value may take; None marks a key whose rules `_Checker` applies itself.
STRING, INTEGER, BOOLEAN, HASH = "a string", "an integer", "a boolean", "a hash"
STRINGS = "an array of strings"
Kind = str | tuple[Any, ...] | dict[str, Any] | None

SSH: dict[str, Kind] = {
    "user": STRING,
    "port": STRING,
    "proxy": STRING,
    "proxy_command": STRING,
    "log_level": STRING,
    "keys_only": BOOLEAN,
    "keys": STRINGS,
    "key_data": STRINGS,
    "config": (BOOLEAN, STRING, STRINGS),
    "forward_agent": BOOLEAN,
}
TOP: dict[str, Kind] = {
    "service": None,
    "image": STRING,
    "labels": HASH,
    "volumes": STRINGS,
    "registry": None,
    "servers": None,
    "env": None,
    "asset_path": STRING,
    "hooks_path": STRING,
    "hooks_output": (STRING, HASH),
    "secrets_path": STRING,
    "error_pages_path": STRING,
    "require_destination": BOOLEAN,
    "primary_role": STRING,
    "allow_empty_roles": BOOLEAN,
    "retain_containers": INTEGER,
    "minimum_version": STRING,
    "readiness_delay": INTEGER,
    "deploy_timeout": INTEGER,
    "drain_timeout": INTEGER,
    "stop_timeout": INTEGER,
    "run_directory": STRING,
    "ssh": SSH,
    "builder": None,
    "accessories": None,
    "proxy": None,
    "sshkit": HASH,
    "boot": HASH,
    "logging": HASH,
    "output": HASH,
    "aliases": HASH,
}
PROXY: dict[str, Kind] = {
    "host": STRING,
    "hosts": STRINGS,
    "app_port": None,
    "ssl": (BOOLEAN, {"certificate_pem": STRING, "private_key_pem": STRING}),
    "ssl_redirect": BOOLEAN,
    "forward_headers": BOOLEAN,
    "response_timeout": INTEGER,
    "path_prefix": STRING,
    "path_prefixes": STRINGS,
    "strip_path_prefix": BOOLEAN,
    "healthcheck": {"interval": INTEGER, "path": None, "timeout": INTEGER},
    "buffering": {
        "requests": BOOLEAN,
        "responses": BOOLEAN,
        "max_request_body": INTEGER,
        "max_response_body": INTEGER,
        "memory": INTEGER,
    },
    "logging": {"request_headers": STRINGS, "response_headers": STRINGS},
    "run": HASH,
}
BUILDER: dict[str, Kind] = {
    "arch": None,
    "remote": STRING,
    "local": BOOLEAN,
    "pack": {"builder": STRING, "buildpacks": STRINGS},
    "cache": {"type": STRING, "options": STRING, "image": STRING},
    "context": STRING,
    "dockerfile": STRING,
    "target": STRING,
    "args": HASH,
    "secrets": STRINGS,
    "ssh": STRING,
    "driver": STRING,
    "provenance": STRING,
    "sbom": BOOLEAN,
}
REGISTRY: dict[str, Kind] = {"server": STRING, "username": None, "password": None}
ROLE: dict[str, Kind] = {
    "hosts": None,
    "cmd": STRING,
    "stop_timeout": INTEGER,
    "options": HASH,
    "logging": HASH,
    "proxy": None,
    "labels": HASH,
    "env": None,
    "asset_path": STRING,
}
ACCESSORY: dict[str, Kind] = dict.fromkeys((
    "service", "image", "registry", "host", "hosts", "role", "roles", "tag", "tags", "cmd",
    "port", "labels", "options", "env", "files", "directories", "volumes", "network", "proxy",
))  # fmt: skip
ACCESSORY_PLACEMENT = ("host", "hosts", "role", "roles", "tag", "tags")
ENV_KEYS = frozenset({"clear", "secret", "tags"})
KNOWN_ARCHES = frozenset({"amd64", "arm64"})


class KamalConfigError(ValueError):
    """The config cannot even be read (YAML syntax, unsupported ERB)."""


def render_erb(text: str, env: Mapping[str, str] | None = None) -> str:
    """Render the ERB subset Kamal configs use here: `<%= ENV.fetch("X", "d") %>`,
    `<%= ENV.fetch("X") %>`, `<%= ENV["X"] %>`. With `env=None`, unset variables
    render as a placeholder so the structure can still be checked."""

    def substitute(match: re.Match[str]) -> str:
        output, code = match.group(1), match.group(2)
        lookup = _ENV_LOOKUP.match(code)
        if not output or not lookup:
            raise KamalConfigError(
                f"unsupported ERB '<%{output} {code} %>': only ENV lookups are allowed"
            )
        name = lookup.group(1) or lookup.group(3)
        default = lookup.group(2)
        if env is not None and name in env:
            return env[name]
        if default is not None:
            return default
        if env is not None:
            raise KamalConfigError(f"environment variable {name} is not set (ENV lookup in ERB)")
        return f"placeholder-{name.lower()}"

    return _ERB.sub(substitute, text)


def load_kamal_config(text: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Render and parse a `config/deploy.yml` as Kamal would."""
    rendered = render_erb(text, env)
    try:
        data = yaml.safe_load(rendered)
    except yaml.YAMLError as exc:
        raise KamalConfigError(f"not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise KamalConfigError("the configuration must be a mapping of keys")
    return data


def secret_names(secrets_text: str) -> set[str]:
    names = set()
    for line in secrets_text.splitlines():
        match = _SECRET_LINE.match(line.strip())
        if match:
            names.add(match.group(1))
    return names


def validate_kamal_secrets(secrets_text: str) -> list[str]:
    """`.kamal/secrets` may only read values from the environment (`NAME=$NAME`) or
    from a command (`$(kamal secrets fetch ...)`): it is committed, so a literal value
    would be a leaked secret. Messages name the variable, never its value."""
    problems = []
    for number, raw in enumerate(secrets_text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _SECRET_LINE.match(line)
        if not match:
            problems.append(f".kamal/secrets line {number}: not a NAME=VALUE line")
        elif not _FROM_ENVIRONMENT.match(match.group(2).strip().strip('"')):
            name = match.group(1)
            problems.append(
                f".kamal/secrets line {number}: {name} has a literal value; "
                f"read it from the environment instead ({name}=${name})"
            )
    return problems


def validate_kamal_config(
    yaml_text: str,
    *,
    secrets_text: str | None = None,
    env: Mapping[str, str] | None = None,
    expected_arch: str | None = None,
) -> list[str]:
    """Every rule the config breaks, as messages; an empty list means valid.

    With `secrets_text`, secret names the config uses must be defined there, as
    Kamal requires at deploy time. With `expected_arch`, the builder must build for
    the VM's architecture.
    """
    try:
        config = load_kamal_config(yaml_text, env)
    except KamalConfigError as exc:
        return [str(exc)]
    return kamal_config_problems(config, secrets_text=secrets_text, expected_arch=expected_arch)


def kamal_config_problems(
    config: dict[str, Any], *, secrets_text: str | None = None, expected_arch: str | None = None
) -> list[str]:
    """`validate_kamal_config` for a config already read (say, merged with a destination's)."""
    checker = _Checker(secret_names(secrets_text) if secrets_text is not None else None)
    checker.check(config, expected_arch)
    return checker.problems


class _Checker:
    def __init__(self, secrets: set[str] | None):
        self.secrets = secrets
        self.problems: list[str] = []

    def error(self, context: str, message: str) -> None:
        self.problems.append(f"{context}: {message}" if context else message)

    def check(self, config: dict[str, Any], expected_arch: str | None) -> None:
        self.shape("", config, TOP, allow_extensions=True)
        for key in ("service", "registry"):
            if not config.get(key):
                self.error("", f"Missing required configuration for {key}")
        service = config.get("service")
        if service and not (isinstance(service, str) and _SERVICE_NAME.match(service)):
            self.error(
                "",
                "Service name can only include alphanumeric characters, hyphens, and underscores",
            )
        if not config.get("image") and not _local_registry(config.get("registry")):
            self.error("", "Missing required configuration for image")
        retain = config.get("retain_containers")
        if isinstance(retain, int) and not isinstance(retain, bool) and retain < 1:
            self.error("", "Must retain at least 1 container")
        self.servers(config)
        if isinstance(config.get("registry"), dict):
            self.registry(config["registry"])
        elif "registry" in config and config["registry"] is not None:
            self.error("registry", "should be a hash")
        self.builder(config.get("builder"), expected_arch)
        if "proxy" in config:
            self.proxy("proxy", config["proxy"], self._web_hosts(config))
        if "env" in config:
            self.env("env", config["env"])
        self.accessories(config.get("accessories"))

    # -- helpers ------------------------------------------------------------------

    def shape(
        self, context: str, value: Any, schema: dict[str, Kind], allow_extensions: bool = False
    ) -> bool:
        """A section: a hash with only the schema's keys, each of its kind. False if no hash."""
        if not isinstance(value, dict):
            self.error(context, "should be a hash")
            return False
        keys = [k for k in value if not (allow_extensions and str(k).startswith("x-"))]
        self.known_keys(context, keys, schema)
        for key in keys:
            if schema.get(key) is not None:
                self.kind(f"{context}/{key}" if context else str(key), value[key], schema[key])
        return True

    def known_keys(self, context: str, keys: Iterable[Any], allowed: Container[str]) -> None:
        unknown = [str(k) for k in keys if k not in allowed]
        if unknown:
            word = "key" if len(unknown) == 1 else "keys"
            self.error(context, f"unknown {word}: {', '.join(unknown)}")

    def kind(self, context: str, value: Any, kind: Kind) -> None:
        if isinstance(kind, dict):
            self.shape(context, value, kind)
        elif isinstance(kind, tuple):
            # The option of the value's own shape decides, so a hash gets the hash's errors
            # ("proxy/ssl: unknown key: ...") rather than a vague "should be X or Y".
            matching = [option for option in kind if _same_shape(value, option)]
            if matching:
                self.kind(context, value, matching[0])
            else:
                self.error(context, "should be " + " or ".join(_describe(k) for k in kind))
        elif kind == STRINGS:
            if not isinstance(value, list):
                self.error(context, "should be an array")
            else:
                for index, item in enumerate(value):
                    self.kind(f"{context}/{index}", item, STRING)
        elif not _IS_KIND[kind](value):
            self.error(context, f"should be {kind}")

    def secret(self, context: str, name: Any) -> None:
        if not isinstance(name, str):
            self.error(context, "should be a string")
            return
        secret = name.split(":", 1)[-1]
        if self.secrets is not None and secret not in self.secrets:
            self.error(context, f"Secret '{secret}' not found in .kamal/secrets")

    # -- sections -------------------------------------------------------------------

    def servers(self, config: dict[str, Any]) -> None:
        servers = config.get("servers")
        if servers is None:
            if not config.get("accessories"):
                self.error("", "No servers or accessories specified")
            return
        if isinstance(servers, list):
            self.host_list("servers", servers)
            if not servers:
                self.error("", "No servers specified for the web primary_role")
            return
        if not isinstance(servers, dict):
            self.error("servers", "should be an array or a hash")
            return
        primary = config.get("primary_role", "web")
        if primary not in servers:
            self.error("", f"The primary_role {primary} isn't defined")
        for role, spec in servers.items():
            context = f"servers/{role}"
            if isinstance(spec, list):
                hosts = spec
                self.host_list(context, spec)
            elif self.shape(context, spec, ROLE):
                hosts = spec.get("hosts") or []
                self.host_list(f"{context}/hosts", hosts)
                if "env" in spec:
                    self.env(f"{context}/env", spec["env"])
                if "proxy" in spec:
                    self.proxy(f"{context}/proxy", spec["proxy"], hosts)
            else:
                continue
            if not hosts and not (role != primary and config.get("allow_empty_roles")):
                what = f"the {role} primary_role" if role == primary else f"the {role} role"
                self.error("", f"No servers specified for {what}")

    def host_list(self, context: str, hosts: Any) -> None:
        if not isinstance(hosts, list):
            self.error(context, "should be an array")
            return
        for index, host in enumerate(hosts):
            if isinstance(host, dict):
                if len(host) != 1:
                    self.error(f"{context}/{index}", "multiple hosts found")
            elif not isinstance(host, str) or not host.strip():
                self.error(f"{context}/{index}", "should be a string or a hash")

    def registry(self, registry: dict[str, Any]) -> None:
        self.shape("registry", registry, REGISTRY)
        if _local_registry(registry):
            return
        for key in ("username", "password"):
            value = registry.get(key)
            context = f"registry/{key}"
            if not value:
                self.error(context, "is required")
            elif isinstance(value, list):
                if len(value) != 1 or not isinstance(value[0], str):
                    self.error(
                        context,
                        "should be a string or an array with one string (for secret lookup)",
                    )
                else:
                    self.secret(context, value[0])
            elif not isinstance(value, str):
                self.error(
                    context, "should be a string or an array with one string (for secret lookup)"
                )

    def builder(self, builder: Any, expected_arch: str | None) -> None:
        if builder is None:
            self.error("builder", "Builder arch not set")
            return
        if not self.shape("builder", builder, BUILDER):
            return
        arch = builder.get("arch")
        arches = arch if isinstance(arch, list) else [arch] if arch else []
        if not arches:
            self.error("builder", "Builder arch not set")
        for value in arches:
            if value not in KNOWN_ARCHES:
                self.error("builder/arch", f"'{value}' is not an architecture (amd64 or arm64)")
        if expected_arch and arches and arches != [expected_arch]:
            self.error("builder/arch", f"should be {expected_arch}, the server's architecture")
        if "pack" in builder:
            if isinstance(builder["pack"], dict) and not builder["pack"].get("builder"):
                self.error("builder/pack", "builder is required")
            if len(arches) > 1:
                self.error("builder", "buildpacks only support building for one arch")
        if builder.get("local") is False and not builder.get("remote"):
            self.error("builder", "Cannot disable local builds, no remote is set")
        cache = builder.get("cache")
        if isinstance(cache, dict) and cache.get("type") not in (None, "gha", "registry"):
            self.error("builder", f"Invalid cache type: {cache.get('type')}")

    def proxy(self, context: str, proxy: Any, hosts: list[Any]) -> None:
        if proxy is None or isinstance(proxy, bool):
            return
        if not isinstance(proxy, dict):
            self.error(context, "should be a boolean or a hash")
            return
        self.shape(context, proxy, PROXY)
        has_host = bool(proxy.get("host")) or bool(proxy.get("hosts"))
        ssl = proxy.get("ssl")
        if ssl and not has_host:
            self.error(context, "Must set a host to enable automatic SSL")
        if "host" in proxy and "hosts" in proxy:
            self.error(context, "Specify one of 'host' or 'hosts', not both")
        if isinstance(ssl, dict) and bool(ssl.get("certificate_pem")) != bool(
            ssl.get("private_key_pem")
        ):
            missing = "private_key_pem" if ssl.get("certificate_pem") else "certificate_pem"
            self.error(context, f"Missing {missing} setting")
        if ssl is True and len(hosts) > 1:
            self.error(
                context,
                f"SSL is only supported on a single server unless you provide custom "
                f"certificates, found {len(hosts)} servers",
            )
        port = proxy.get("app_port")
        if port is not None and (
            not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536
        ):
            self.error(f"{context}/app_port", "should be an integer port number")
        healthcheck = proxy.get("healthcheck")
        if isinstance(healthcheck, dict):
            path = healthcheck.get("path")
            if path is not None and (not isinstance(path, str) or not path.startswith("/")):
                self.error(f"{context}/healthcheck/path", "should be a path starting with '/'")

    def env(self, context: str, env: Any) -> None:
        if not isinstance(env, dict):
            self.error(context, "should be a hash")
            return
        if not set(env) & ENV_KEYS:
            self.string_hash(context, env)
            return
        self.known_keys(context, env, ENV_KEYS)
        if "clear" in env:
            self.string_hash(f"{context}/clear", env["clear"])
        if "secret" in env:
            secrets = env["secret"]
            if not isinstance(secrets, list):
                self.error(f"{context}/secret", "should be an array")
            else:
                for index, name in enumerate(secrets):
                    self.secret(f"{context}/secret/{index}", name)
        if "tags" in env and context != "env":
            self.error(context, "tags are only allowed in the root env")

    def string_hash(self, context: str, value: Any) -> None:
        if not isinstance(value, dict):
            self.error(context, "should be a hash")
            return
        for key, item in value.items():
            if isinstance(item, dict | list) or item is None:
                self.error(f"{context}/{key}", "should be a string")

    def accessories(self, accessories: Any) -> None:
        if accessories is None:
            return
        if not isinstance(accessories, dict):
            self.error("accessories", "should be a hash")
            return
        for name, spec in accessories.items():
            context = f"accessories/{name}"
            if not self.shape(context, spec, ACCESSORY):
                continue
            if not spec.get("image"):
                self.error(context, "Missing required configuration for image")
            if sum(1 for key in ACCESSORY_PLACEMENT if key in spec) != 1:
                self.error(
                    context, "specify one of `host`, `hosts`, `role`, `roles`, `tag` or `tags`"
                )
            if "env" in spec:
                self.env(f"{context}/env", spec["env"])

    @staticmethod
    def _web_hosts(config: dict[str, Any]) -> list[Any]:
        servers = config.get("servers")
        if isinstance(servers, list):
            return servers
        if isinstance(servers, dict):
            web = servers.get(config.get("primary_role", "web"))
            if isinstance(web, list):
                return web
            if isinstance(web, dict):
                return web.get("hosts") or []
        return []


def _local_registry(registry: Any) -> bool:
    return isinstance(registry, dict) and str(registry.get("server", "")).startswith("localhost")


_IS_KIND = {
    # Kamal's validator lets numbers and booleans stand for strings (`port: 22`).
    STRING: lambda v: isinstance(v, str | int | float | bool),
    INTEGER: lambda v: isinstance(v, int) and not isinstance(v, bool),
    BOOLEAN: lambda v: isinstance(v, bool),
    HASH: lambda v: isinstance(v, dict),
}


def _same_shape(value: Any, kind: Kind) -> bool:
    if isinstance(kind, dict) or kind == HASH:
        return isinstance(value, dict)
    if kind == STRINGS:
        return isinstance(value, list)
    if kind == BOOLEAN:
        return isinstance(value, bool)
    return not isinstance(value, dict | list)


def _describe(kind: Kind) -> str:
    if isinstance(kind, dict):
        return HASH
    return "an array" if kind == STRINGS else str(kind)
