"""Where the generated files will deploy to: the few facts not found in the repo."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from vmkit.hostnames import app_hostname, slugify
from vmkit.modelbase import Model

_GITHUB_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,99})$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9-]{1,63}$")


class GenerationContext(Model):
    owner: str = Field(description="GitHub owner (user or org) of the repo")
    repo: str = Field(description="GitHub repository name")
    env_slug: str = "production"
    apps_domain: str = "vmkit.app"
    vm_arch: Literal["arm64", "amd64"] = "arm64"
    #: The environment variable the Kamal config reads the server's address from; the
    #: workflow sets it from its `server_host` input (default: the app's host name).
    server_host_env: str = "VMKIT_SERVER_HOST"
    #: The environment's host name when VMKit already assigned one (it may carry a
    #: suffix when the plain name is taken); otherwise derived with `app_hostname`.
    host: str | None = None

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
        return self.host or app_hostname(self.repo, self.env_slug, self.apps_domain)

    @property
    def platform(self) -> str:
        return f"linux/{self.vm_arch}"

    @property
    def runner(self) -> str:
        """A GitHub-hosted runner of the VM's architecture: native builds, no QEMU."""
        return "ubuntu-24.04-arm" if self.vm_arch == "arm64" else "ubuntu-24.04"
