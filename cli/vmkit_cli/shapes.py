"""The `--json` shapes that are the CLI's own: views that join several API resources.

Every other command prints an API model from `vmkit.schemas` as it is; these combine
them, and each part is that model too. They are documented in `cli/vmkit_cli/README.md`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from vmkit.schemas import (
    DeployPublic,
    Diagnosis,
    EnvironmentPublic,
    InstancePublic,
    RepoPublic,
    WhoAmI,
)


class Session(BaseModel):
    """`vmkit login` and `vmkit whoami`: where the CLI is connected, and as whom."""

    profile: str | None = Field(description="The profile used; null for a local stack found here")
    url: str
    local_state: str | None = Field(description="The local stack's state file, for a local stack")
    identity: WhoAmI


class Status(BaseModel):
    """`vmkit status`: an environment with its repo, VM and latest deploy."""

    environment: EnvironmentPublic
    repo: RepoPublic
    instance: InstancePublic | None
    last_deploy: DeployPublic | None


class Finding(BaseModel):
    check: str
    ok: bool
    detail: str
    fix: str | None = None


class Doctor(BaseModel):
    """`vmkit doctor`: each check, whether it passed, and what to do when it did not."""

    environment_id: str
    instance_id: str | None
    healthy: bool
    findings: list[Finding]
    diagnosis: Diagnosis | None = Field(description="The agent's diagnose report, as is")


class Removed(BaseModel):
    """`vmkit logout`: the profile that was forgotten (its key is not revoked)."""

    profile: str
    removed: Literal[True] = True


class Completion(BaseModel):
    shell: Literal["bash", "zsh"]
    script: str
