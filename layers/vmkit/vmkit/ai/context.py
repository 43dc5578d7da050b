"""Where the generated files will deploy to: the few facts not found in the repo."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, field_validator

_SLUG = re.compile(r"[^a-z0-9]+")
_GITHUB_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,99})$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9-]{1,63}$")
_DNS_LABEL_MAX = 63


def slugify(name: str) -> str:
    """Lowercase letters, digits and single hyphens: safe in DNS labels and Kamal names."""
    return _SLUG.sub("-", name.lower()).strip("-") or "app"


def app_hostname(repo: str, env: str, apps_domain: str) -> str:
    """`{repo-slug}-{env-slug}.{apps_domain}`, the environment's public host name.

    The DNS step must create exactly this name, so both sides call this function. The
    repo slug is shortened when needed to keep the label within DNS's 63 characters.
    """
    env_slug = slugify(env)
    room = _DNS_LABEL_MAX - len(env_slug) - 1
    repo_slug = slugify(repo)[:room].rstrip("-")
    return f"{repo_slug}-{env_slug}.{apps_domain}"


class GenerationContext(BaseModel):
    owner: str = Field(description="GitHub owner (user or org) of the repo")
    repo: str = Field(description="GitHub repository name")
    env_slug: str = "production"
    apps_domain: str = "vmkit.app"
    vm_arch: Literal["arm64", "amd64"] = "arm64"
    #: The environment variable the Kamal config reads the server's address from; the
    #: workflow sets it from its `server_host` input (default: the app's host name).
    server_host_env: str = "VMKIT_SERVER_HOST"

    @field_validator("owner", "repo")
    @classmethod
    def _github_name(cls, value: str) -> str:
        if not _GITHUB_NAME.match(value):
            raise ValueError(f"'{value}' is not a GitHub owner or repository name")
        return value

    @field_validator("env_slug")
    @classmethod
    def _env(cls, value: str) -> str:
        slug = slugify(value)
        if slug != value:
            raise ValueError(f"environment '{value}' is not a slug; use '{slug}'")
        return value

    @field_validator("apps_domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        if not _HOSTNAME.match(value):
            raise ValueError(f"'{value}' is not a domain name")
        return value

    @field_validator("server_host_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", value):
            raise ValueError(f"'{value}' is not an environment variable name")
        return value

    @property
    def service(self) -> str:
        """Kamal service name: the repo slug."""
        return slugify(self.repo)

    @property
    def image(self) -> str:
        """GHCR image path without the registry; GHCR wants it lowercase."""
        return f"{self.owner}/{self.repo}".lower()

    @property
    def app_host(self) -> str:
        return app_hostname(self.repo, self.env_slug, self.apps_domain)

    @property
    def platform(self) -> str:
        return f"linux/{self.vm_arch}"

    @property
    def runner(self) -> str:
        """A GitHub-hosted runner of the VM's architecture: native builds, no QEMU."""
        return "ubuntu-24.04-arm" if self.vm_arch == "arm64" else "ubuntu-24.04"
