"""Language-agnostic signals in source and config text: env vars, ports, health paths,
backing services.

Only names ever leave this module: a `.env` file committed by mistake is read for the
variable names it declares, and its values are dropped on the spot.
"""

from __future__ import annotations

import re

_ENV_NAME = r"([A-Z][A-Z0-9_]{1,63})"
ENV_USAGE = [
    re.compile(rf"""os\.environ\[\s*["']{_ENV_NAME}["']\s*\]"""),
    re.compile(rf"""os\.(?:environ\.get|getenv)\(\s*["']{_ENV_NAME}["']"""),
    re.compile(rf"""process\.env\.{_ENV_NAME}\b"""),
    re.compile(rf"""process\.env\[\s*["']{_ENV_NAME}["']\s*\]"""),
    re.compile(rf"""ENV(?:\.fetch\(\s*|\[\s*)["']{_ENV_NAME}["']"""),
    re.compile(rf"""os\.(?:Getenv|LookupEnv)\(\s*"{_ENV_NAME}"\s*\)"""),
    re.compile(rf"""env::var(?:_os)?\(\s*"{_ENV_NAME}"\s*\)"""),
    re.compile(rf"""System\.getenv\(\s*"{_ENV_NAME}"\s*\)"""),
    re.compile(rf"""\$\{{{_ENV_NAME}(?::[^}}]*)?\}}"""),
]
_DOTENV_LINE = re.compile(rf"^\s*(?:export\s+)?{_ENV_NAME}\s*=", re.MULTILINE)
_COMPOSE_ENV = re.compile(rf"^\s*-?\s*{_ENV_NAME}\s*[=:]", re.MULTILINE)

#: Set by the platform or the buildpacks, not something the user configures.
PLATFORM_ENV = frozenset(
    {
        "PORT",
        "HOST",
        "HOSTNAME",
        "HOME",
        "PATH",
        "PWD",
        "USER",
        "SHELL",
        "TMPDIR",
        "NODE_ENV",
        "RAILS_ENV",
        "RACK_ENV",
        "APP_ENV",
        "PYTHONUNBUFFERED",
        "WEB_CONCURRENCY",
        "DYNO",
        "CI",
        "DEBUG",
        "JAVA_OPTS",
        "RAILS_MAX_THREADS",
        "RAILS_LOG_TO_STDOUT",
        "RAILS_SERVE_STATIC_FILES",
        "DJANGO_SETTINGS_MODULE",
    }
)
_SECRET_WORDS = frozenset(
    {"SECRET", "PASSWORD", "PASSWD", "PASS", "TOKEN", "KEY", "PRIVATE", "CREDENTIALS"}
    | {"CREDENTIAL", "DSN", "SALT", "AUTH", "CERT", "APIKEY"}
)
#: Connection strings carry a password inside the URL.
_SECRET_URLS = frozenset(
    {"DATABASE_URL", "REDIS_URL", "MONGODB_URI", "MONGODB_URL", "MONGO_URL", "AMQP_URL"}
    | {"RABBITMQ_URL", "CLOUDAMQP_URL", "MEMCACHED_URL", "MYSQL_URL", "POSTGRES_URL"}
)


def env_names_in_source(text: str) -> set[str]:
    return {m.group(1) for pattern in ENV_USAGE for m in pattern.finditer(text)}


def env_names_in_dotenv(text: str) -> set[str]:
    """Names declared in a dotenv file. The values are never looked at."""
    return set(_DOTENV_LINE.findall(text))


def env_names_in_compose(text: str) -> set[str]:
    names: set[str] = set()
    for block in re.findall(r"^\s+environment:\s*\n((?:\s{6,}.*\n?)+)", text, re.MULTILINE):
        names |= set(_COMPOSE_ENV.findall(block))
    return names


def is_secret_name(name: str) -> bool:
    if name in _SECRET_URLS or name.endswith(("_DATABASE_URL", "_DSN")):
        return True
    return any(word in _SECRET_WORDS for word in name.split("_"))


# -- ports -----------------------------------------------------------------------

_PORT = r"(\d{2,5})"
PORT_IN_SOURCE = [
    # process.env.PORT || 3000, os.getenv("PORT") or 8000, ENV.fetch("PORT") { 3000 }
    re.compile(rf"""PORT["'\])]*\s*(?:\|\||\?\?|\bor\b|\{{)\s*["']?{_PORT}"""),
    # os.getenv("PORT", "8080"), ENV.fetch("PORT", 3000), os.environ.get("PORT", 8000)
    re.compile(rf"""["']PORT["']\s*,\s*["']?{_PORT}"""),
    # ${PORT:8080} in Spring or shell
    re.compile(rf"""\$\{{PORT:-?{_PORT}\}}"""),
    # app.listen(3000), http.ListenAndServe(":8080"), r.Run(":8080"), "0.0.0.0:8080"
    re.compile(rf"""\.(?:listen|ListenAndServe|Run|Start)\(\s*["']?(?:[\w.]*:)?{_PORT}\b"""),
    re.compile(rf"""["'](?:0\.0\.0\.0|127\.0\.0\.1|localhost)?:{_PORT}["']"""),
]
PORT_IN_COMMAND = re.compile(rf"""(?:-p|--port|-b|--bind|--listen)[= ]+(?:[\w.\[\]]*:)?{_PORT}\b""")
EXPOSE = re.compile(rf"^\s*EXPOSE\s+{_PORT}", re.MULTILINE | re.IGNORECASE)


def port_in_source(text: str) -> int | None:
    for pattern in PORT_IN_SOURCE:
        match = pattern.search(text)
        if match and _plausible_port(int(match.group(1))):
            return int(match.group(1))
    return None


def port_in_command(command: str) -> int | None:
    match = PORT_IN_COMMAND.search(command)
    return int(match.group(1)) if match and _plausible_port(int(match.group(1))) else None


def _plausible_port(port: int) -> bool:
    return 80 <= port <= 65535


# -- health paths ----------------------------------------------------------------

#: Preference order when an app serves several.
HEALTH_NAMES = ("up", "healthz", "health", "healthcheck", "health-check", "_health", "livez")
HEALTH_NAMES += ("readyz", "ping", "status")
_HEALTH_ALTERNATIVES = "|".join(re.escape(n) for n in HEALTH_NAMES)
_HEALTH_LITERAL = re.compile(rf"""["'`](/?(?:api/)?(?:{_HEALTH_ALTERNATIVES})/?)["'`]""")


def health_paths_in_source(text: str) -> list[str]:
    """Health-looking route literals, normalized to start with '/'."""
    found = []
    for literal in _HEALTH_LITERAL.findall(text):
        path = literal if literal.startswith("/") else "/" + literal
        if path not in found:
            found.append(path)
    return found


def preferred_health_path(paths: list[str]) -> str | None:
    def rank(path: str) -> int:
        name = path.strip("/").removeprefix("api/")
        return HEALTH_NAMES.index(name) if name in HEALTH_NAMES else len(HEALTH_NAMES)

    return min(paths, key=rank) if paths else None


# -- backing services -------------------------------------------------------------

#: Dependency names (any ecosystem) that mean the app talks to a service.
SERVICE_DEPENDENCIES: dict[str, frozenset[str]] = {
    "postgres": frozenset(
        {"psycopg2", "psycopg2-binary", "psycopg", "asyncpg", "pg", "pg-promise", "postgres"}
        | {"github.com/lib/pq", "github.com/jackc/pgx/v5", "github.com/jackc/pgx/v4"}
        | {"tokio-postgres", "postgresql", "r2dbc-postgresql"}
    ),
    "mysql": frozenset(
        {"mysqlclient", "pymysql", "mysql-connector-python", "aiomysql", "mysql2", "mysql"}
        | {"github.com/go-sql-driver/mysql", "mysql-connector-j", "mysql-connector-java"}
        | {"mysql_async"}
    ),
    "redis": frozenset(
        {"redis", "ioredis", "django-redis", "rq", "sidekiq", "resque", "bull", "bullmq"}
        | {"github.com/redis/go-redis/v9", "github.com/go-redis/redis/v8"}
        | {"spring-boot-starter-data-redis", "jedis", "lettuce-core"}
    ),
    "mongodb": frozenset(
        {"pymongo", "motor", "mongoengine", "mongoose", "mongodb", "mongoid"}
        | {"go.mongodb.org/mongo-driver", "spring-boot-starter-data-mongodb"}
    ),
    "memcached": frozenset({"pymemcache", "python-memcached", "memjs", "dalli"}),
    "rabbitmq": frozenset(
        {"pika", "amqplib", "bunny", "github.com/rabbitmq/amqp091-go", "lapin"}
        | {"spring-boot-starter-amqp"}
    ),
}
#: Substrings of manifests/config that name a service (JDBC URLs, sqlx features,
#: Rails database.yml adapters).
SERVICE_MARKERS: dict[str, tuple[str, ...]] = {
    "postgres": ("jdbc:postgresql:", "adapter: postgresql", '"postgres"', "postgres://"),
    "mysql": ("jdbc:mysql:", "adapter: mysql2", '"mysql"', "mysql://"),
    "redis": ("redis://",),
    "mongodb": ("mongodb://", "mongodb+srv://"),
    "rabbitmq": ("amqp://",),
}
SERVICE_ENV: dict[str, tuple[str, ...]] = {
    "postgres": ("POSTGRES_", "PG", "POSTGRESQL_"),
    "mysql": ("MYSQL_",),
    "redis": ("REDIS_",),
    "mongodb": ("MONGO",),
    "memcached": ("MEMCACHE",),
    "rabbitmq": ("RABBITMQ_", "AMQP_", "CLOUDAMQP_"),
}
SERVICE_IMAGES: dict[str, tuple[str, ...]] = {
    "postgres": ("postgres", "postgis/postgis"),
    "mysql": ("mysql", "mariadb"),
    "redis": ("redis", "valkey/valkey"),
    "mongodb": ("mongo",),
    "memcached": ("memcached",),
    "rabbitmq": ("rabbitmq",),
}
_COMPOSE_IMAGE = re.compile(r"^\s*image:\s*[\"']?([\w./-]+)", re.MULTILINE)


def services_in_dependencies(dependencies: set[str]) -> dict[str, str]:
    """service -> the dependency that names it."""
    found = {}
    for service, names in SERVICE_DEPENDENCIES.items():
        hit = sorted(dependencies & names)
        if hit:
            found[service] = hit[0]
    return found


def services_in_text(text: str) -> dict[str, str]:
    found = {}
    for service, markers in SERVICE_MARKERS.items():
        hit = next((m for m in markers if m in text), None)
        if hit:
            found[service] = hit
    return found


def services_in_env_names(names: set[str]) -> dict[str, str]:
    found = {}
    for service, prefixes in SERVICE_ENV.items():
        hit = sorted(n for n in names if n.startswith(prefixes) and n != "PATH")
        if hit:
            found[service] = hit[0]
    return found


def services_in_compose(text: str) -> dict[str, str]:
    found = {}
    for image in _COMPOSE_IMAGE.findall(text):
        repo = image.split(":", 1)[0].removeprefix("docker.io/").removeprefix("library/")
        for service, names in SERVICE_IMAGES.items():
            if repo in names and service not in found:
                found[service] = image
    return found
