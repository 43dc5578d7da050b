"""Facts every generator must agree on, derived once from the scan and the context.

The workflow exports exactly the variables `.kamal/secrets` reads, which are exactly
the ones `config/deploy.yml` lists; deriving them in one place keeps the three files
consistent by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vmkit.ai.context import GenerationContext
from vmkit.ai.scan_result import ScanResult

REGISTRY = "ghcr.io"
REGISTRY_PASSWORD = "KAMAL_REGISTRY_PASSWORD"  # noqa: S105 (a name, not a value)
SSH_KEY_SECRET = "VMKIT_SSH_PRIVATE_KEY"  # noqa: S105 (a name, not a value)
SSH_USER = "kamal"


@dataclass(frozen=True)
class AccessorySpec:
    """A backing service Kamal runs next to the app, reachable on Kamal's docker
    network as `{service}-{name}` (no port is published on the host)."""

    name: str
    image: str
    data_dir: str | None
    #: env name -> value template ("{service}" is replaced)
    clear: dict[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    #: How the app reaches it, for the env stub ("{service}", "{host}" are replaced).
    url_hint: str = ""


ACCESSORIES: dict[str, AccessorySpec] = {
    "postgres": AccessorySpec(
        "postgres",
        "postgres:17.2",
        "/var/lib/postgresql/data",
        {"POSTGRES_USER": "{service}", "POSTGRES_DB": "{service}"},
        ("POSTGRES_PASSWORD",),
        "postgres://{service}:<POSTGRES_PASSWORD>@{host}:5432/{service}",
    ),
    "mysql": AccessorySpec(
        "mysql",
        "mysql:8.4",
        "/var/lib/mysql",
        {"MYSQL_USER": "{service}", "MYSQL_DATABASE": "{service}"},
        ("MYSQL_PASSWORD", "MYSQL_ROOT_PASSWORD"),
        "mysql://{service}:<MYSQL_PASSWORD>@{host}:3306/{service}",
    ),
    "redis": AccessorySpec("redis", "redis:7.4", "/data", url_hint="redis://{host}:6379/0"),
    "mongodb": AccessorySpec(
        "mongodb",
        "mongo:8.0",
        "/data/db",
        {"MONGO_INITDB_ROOT_USERNAME": "{service}"},
        ("MONGO_INITDB_ROOT_PASSWORD",),
        "mongodb://{service}:<MONGO_INITDB_ROOT_PASSWORD>@{host}:27017",
    ),
    "memcached": AccessorySpec("memcached", "memcached:1.6", None, url_hint="{host}:11211"),
    "rabbitmq": AccessorySpec(
        "rabbitmq",
        "rabbitmq:4.0",
        "/var/lib/rabbitmq",
        {"RABBITMQ_DEFAULT_USER": "{service}"},
        ("RABBITMQ_DEFAULT_PASS",),
        "amqp://{service}:<RABBITMQ_DEFAULT_PASS>@{host}:5672",
    ),
}


@dataclass(frozen=True)
class GenerationPlan:
    scan: ScanResult
    ctx: GenerationContext

    @property
    def accessories(self) -> list[AccessorySpec]:
        return [ACCESSORIES[s.name] for s in self.scan.services if s.name in ACCESSORIES]

    def accessory_host(self, spec: AccessorySpec) -> str:
        return f"{self.ctx.service}-{spec.name}"

    @property
    def app_secret_names(self) -> list[str]:
        """Env vars that reach the app through Kamal secrets, from Actions secrets."""
        return self._usable(self.scan.secret_env_names)

    @property
    def app_config_names(self) -> list[str]:
        """Env vars that reach the app through Kamal secrets, from Actions variables."""
        return self._usable(self.scan.config_env_names)

    @property
    def accessory_secret_names(self) -> list[str]:
        return sorted({name for spec in self.accessories for name in spec.secrets})

    @property
    def kamal_secret_names(self) -> list[str]:
        """Everything `.kamal/secrets` reads from the deploy's environment."""
        names = [REGISTRY_PASSWORD, *self.app_secret_names, *self.app_config_names]
        return names + [n for n in self.accessory_secret_names if n not in names]

    @property
    def uses_dockerfile(self) -> bool:
        return self.scan.dockerfile is not None or self.scan.needs_generated_dockerfile

    @property
    def dockerfile_path(self) -> str:
        return self.scan.dockerfile or self.scan.path_in_app("Dockerfile")

    @property
    def build_context(self) -> str:
        return self.scan.app_path

    def _usable(self, names: list[str]) -> list[str]:
        """App variables the deploy can pass: not the deploy's own variables, and not
        GITHUB_*, which GitHub refuses as secret and variable names."""
        reserved = {REGISTRY_PASSWORD, SSH_KEY_SECRET, self.ctx.server_host_env}
        return [n for n in names if n not in reserved and not n.startswith(("GITHUB_", "KAMAL_"))]
