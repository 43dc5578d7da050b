"""What a repo scan concludes, and the evidence for each conclusion.

Every conclusion carries the files and the finding behind it, so the onboarding PR
can say *why* it generated what it did, and a user who disagrees knows which file
to change.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vmkit.modelbase import Model

Language = Literal["python", "node", "ruby", "go", "rust", "java", "static", "docker"]
Service = Literal["postgres", "mysql", "redis", "mongodb", "memcached", "rabbitmq"]


class Evidence(Model):
    file: str = Field(description="Repository-relative path of the file looked at")
    found: str = Field(description="What was found in it")


class ServiceNeed(Model):
    name: Service
    evidence: list[Evidence]


class EnvVarNeed(Model):
    """An environment variable the app reads. Only the name: never a value."""

    name: str
    secret: bool = Field(description="Looks like a credential: deliver it as a secret")
    evidence: list[Evidence]


class Buildpacks(Model):
    buildable: bool
    builder: str | None = Field(description="Builder image for `pack build`, if buildable")
    buildpacks: list[str] = Field(default_factory=list, description="Buildpack ids expected")
    reason: str


class OtherApp(Model):
    """A deployable-looking directory that was not picked (monorepos)."""

    path: str
    language: Language
    framework: str | None
    why_not_chosen: str


class ScanResult(Model):
    language: Language
    framework: str | None
    package_manager: str | None
    start_command: str | None
    run_command: str | None = Field(
        description="Command the container must be given because the image has no default "
        "web process (Python buildpacks without a Procfile); None when the image knows"
    )
    port: int
    health_path: str
    services: list[ServiceNeed]
    env_vars: list[EnvVarNeed]
    app_path: str = Field(description="Directory of the deployable app; '.' for the root")
    other_apps: list[OtherApp]
    buildpacks: Buildpacks
    dockerfile: str | None = Field(description="Path of the app's own Dockerfile, if any")
    evidence: dict[str, list[Evidence]] = Field(
        description="Conclusion name (language, framework, port, ...) -> evidence"
    )
    warnings: list[str] = Field(default_factory=list)

    @property
    def needs_generated_dockerfile(self) -> bool:
        return self.dockerfile is None and not self.buildpacks.buildable

    @property
    def secret_env_names(self) -> list[str]:
        return [v.name for v in self.env_vars if v.secret]

    @property
    def config_env_names(self) -> list[str]:
        return [v.name for v in self.env_vars if not v.secret]

    def path_in_app(self, name: str) -> str:
        """Repository-relative path of `name` inside the app directory."""
        return name if self.app_path == "." else f"{self.app_path}/{name}"
