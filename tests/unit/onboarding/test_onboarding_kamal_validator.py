"""Kamal 2's configuration rules: a good config passes, each broken one gets a clear message."""

from __future__ import annotations

import pytest

from vmkit.ai.kamal_validator import (
    load_kamal_config,
    render_erb,
    validate_kamal_config,
    validate_kamal_secrets,
)

GOOD = """\
service: invoicer
image: acme/invoicer
servers:
  web:
    hosts:
      - <%= ENV.fetch("VMKIT_SERVER_HOST", "invoicer-production.vmkit.app") %>
ssh:
  user: kamal
registry:
  server: ghcr.io
  username: acme
  password:
    - KAMAL_REGISTRY_PASSWORD
builder:
  arch: arm64
proxy:
  ssl: true
  host: invoicer-production.vmkit.app
  app_port: 8000
  healthcheck:
    path: /up
env:
  clear:
    PORT: "8000"
  secret:
    - DATABASE_URL
    - DB_PASSWORD:MAIN_DB_PASSWORD
accessories:
  postgres:
    image: postgres:17.2
    host: <%= ENV["VMKIT_SERVER_HOST"] %>
    env:
      secret:
        - POSTGRES_PASSWORD
"""
SECRETS = (
    "KAMAL_REGISTRY_PASSWORD=$KAMAL_REGISTRY_PASSWORD\nDATABASE_URL=$DATABASE_URL\n"
    "MAIN_DB_PASSWORD=${MAIN_DB_PASSWORD}\nPOSTGRES_PASSWORD=$(kamal secrets fetch pg)\n"
)


def problems(text: str, **kwargs) -> list[str]:
    return validate_kamal_config(text, secrets_text=SECRETS, **kwargs)


def test_a_good_config_passes():
    assert problems(GOOD, expected_arch="arm64") == []
    assert validate_kamal_secrets(SECRETS) == []


BROKEN = [
    ("service: invoicer\n", "", "Missing required configuration for service"),
    ("service: invoicer\n", "service: my app!\n", "Service name can only include alphanumeric"),
    ("image: acme/invoicer\n", "", "Missing required configuration for image"),
    ("  arch: arm64\n", "  remote: ssh://builder\n", "builder: Builder arch not set"),
    (
        "  arch: arm64\n",
        "  arch: [amd64, arm64]\n  pack:\n    builder: heroku/builder:24\n",
        "builder: buildpacks only support building for one arch",
    ),
    ("  arch: arm64\n", "  arch: x86\n", "builder/arch: 'x86' is not an architecture"),
    (
        "  host: invoicer-production.vmkit.app\n",
        "",
        "proxy: Must set a host to enable automatic SSL",
    ),
    (
        "  host: invoicer-production.vmkit.app\n",
        "  host: a.example.com\n  hosts: [b.example.com]\n",
        "proxy: Specify one of 'host' or 'hosts'",
    ),
    (
        "    path: /up\n",
        "    path: up\n",
        "proxy/healthcheck/path: should be a path starting with '/'",
    ),
    ("  app_port: 8000\n", "  app_port: eighty\n", "proxy/app_port: should be an integer port"),
    (
        "    - DATABASE_URL\n",
        "    - STRIPE_KEY\n",
        "env/secret/0: Secret 'STRIPE_KEY' not found in .kamal/secrets",
    ),
    (
        "    - DB_PASSWORD:MAIN_DB_PASSWORD\n",
        "    - DB_PASSWORD:OTHER\n",
        "Secret 'OTHER' not found",
    ),
    (
        "    - KAMAL_REGISTRY_PASSWORD\n",
        "    - GHCR_TOKEN\n",
        "registry/password: Secret 'GHCR_TOKEN' not found in .kamal/secrets",
    ),
    ("  password:\n    - KAMAL_REGISTRY_PASSWORD\n", "", "registry/password: is required"),
    (
        "  password:\n    - KAMAL_REGISTRY_PASSWORD\n",
        "  password: [A, B]\n",
        "registry/password: should be a string or an array with one string",
    ),
    ("ssh:\n", "sssh: {}\nssh:\n", "unknown key: sssh"),
    ("  ssl: true\n", "  ssl: true\n  tls: true\n", "proxy: unknown key: tls"),
    ("  web:\n    hosts:\n", "  workers:\n    hosts:\n", "The primary_role web isn't defined"),
    (
        '      - <%= ENV.fetch("VMKIT_SERVER_HOST", "invoicer-production.vmkit.app") %>\n',
        "      []\n",
        "No servers specified for the web primary_role",
    ),
    (
        '    host: <%= ENV["VMKIT_SERVER_HOST"] %>\n',
        "",
        "accessories/postgres: specify one of `host`, `hosts`, `role`, `roles`, `tag` or `tags`",
    ),
    (
        "    image: postgres:17.2\n",
        "",
        "accessories/postgres: Missing required configuration for image",
    ),
    (
        "    - POSTGRES_PASSWORD\n",
        "    - PG_PASS\n",
        "accessories/postgres/env/secret/0: Secret 'PG_PASS' not found",
    ),
    (
        '      - <%= ENV.fetch("VMKIT_SERVER_HOST", "invoicer-production.vmkit.app") %>\n',
        "      - 10.0.0.1\n      - 10.0.0.2\n",
        "SSL is only supported on a single server",
    ),
    (
        '  clear:\n    PORT: "8000"\n',
        "  clear:\n    PORT: [8000]\n",
        "env/clear/PORT: should be a string",
    ),
    (
        "ssh:\n  user: kamal\n",
        "ssh:\n  user: kamal\n  keys_only: yes-please\n",
        "ssh/keys_only: should be a boolean",
    ),
    (
        "service: invoicer\n",
        "service: invoicer\ndeploy_timeout: soon\n",
        "deploy_timeout: should be an integer",
    ),
    (
        "service: invoicer\n",
        "service: invoicer\nretain_containers: 0\n",
        "Must retain at least 1 container",
    ),
    ("    hosts:\n", "    cmd: [bin/web]\n    hosts:\n", "servers/web/cmd: should be a string"),
    (
        "proxy:\n  ssl: true\n  host: invoicer-production.vmkit.app\n  app_port: 8000\n"
        "  healthcheck:\n    path: /up\n",
        "proxy: [invoicer.example.com]\n",
        "proxy: should be a boolean or a hash",
    ),
    (
        "  ssl: true\n",
        "  ssl:\n    certificate_pem: CERT\n",
        "proxy: Missing private_key_pem setting",
    ),
    ("  ssl: true\n", "  ssl: sure\n", "proxy/ssl: should be a boolean or a hash"),
    ("service: invoicer\n", "service: <%= `whoami` %>\n", "unsupported ERB"),
    ("service: invoicer\n", "service: [invoicer\n", "not valid YAML"),
]


@pytest.mark.parametrize(("old", "new", "message"), BROKEN, ids=[m for _, _, m in BROKEN])
def test_a_broken_config_is_rejected_with_kamals_message(old, new, message):
    assert old in GOOD, "the test's edit must apply"

    found = problems(GOOD.replace(old, new, 1))

    assert any(message in p for p in found), found


def test_builder_must_match_the_servers_architecture():
    found = problems(GOOD, expected_arch="amd64")

    assert found == ["builder/arch: should be amd64, the server's architecture"]


def test_missing_builder_section_is_reported():
    found = problems(GOOD.replace("builder:\n  arch: arm64\n", ""))

    assert found == ["builder: Builder arch not set"]


def test_every_problem_is_reported_not_just_the_first():
    broken = GOOD.replace("service: invoicer\n", "").replace("  arch: arm64\n", "  remote: x\n")

    found = problems(broken)

    assert "Missing required configuration for service" in found
    assert "builder: Builder arch not set" in found


def test_secret_names_are_checked_only_when_the_secrets_file_is_given():
    text = GOOD.replace("    - DATABASE_URL\n", "    - ANYTHING\n")

    assert validate_kamal_config(text) == []
    assert validate_kamal_config(text, secrets_text="") != []


def test_erb_env_lookups_render_from_the_environment_or_their_default():
    text = 'a: <%= ENV.fetch("X", "d") %>\nb: <%= ENV["Y"] %>\nc: <%= ENV.fetch("Z") %>\n'

    assert load_kamal_config(text, {"X": "1", "Y": "2", "Z": "3"}) == {"a": 1, "b": 2, "c": 3}
    assert load_kamal_config(text, None) == {
        "a": "d",
        "b": "placeholder-y",
        "c": "placeholder-z",
    }
    with pytest.raises(ValueError, match="environment variable Y is not set"):
        render_erb(text, {"X": "1"})


def test_erb_that_runs_code_is_refused():
    with pytest.raises(ValueError, match="only ENV lookups are allowed"):
        render_erb("<% system('rm -rf /') %>")


def test_secrets_with_literal_values_are_rejected_without_echoing_the_value():
    secrets = "# comment\nGOOD=$GOOD\nDATABASE_URL=postgres://u:hunter2-canary@db/app\nnot a line\n"

    found = validate_kamal_secrets(secrets)

    assert found == [
        ".kamal/secrets line 3: DATABASE_URL has a literal value; "
        "read it from the environment instead (DATABASE_URL=$DATABASE_URL)",
        ".kamal/secrets line 4: not a NAME=VALUE line",
    ]
    assert "hunter2" not in "".join(found)
