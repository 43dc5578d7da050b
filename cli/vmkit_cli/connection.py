"""Which API a command talks to and with which key (the order is in `vmkit_cli.profiles`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vmkit_cli import localstack, profiles
from vmkit_cli.errors import CliError


@dataclass(frozen=True)
class Connection:
    url: str
    key: str
    profile: str | None  # None: a local stack found without any profile
    local: localstack.LocalStack | None = None

    @property
    def where(self) -> str:
        return f"the local stack ({self.local.path})" if self.local else self.url

    def unreachable_hint(self) -> str:
        if self.local:
            return "is the local stack still running? start it with `vmkit local up`"
        return f"check the URL (`vmkit login --url URL --profile {self.profile}`) and the network"


def resolve(profile_flag: str | None) -> Connection:
    name = profiles.chosen_name(profile_flag)
    config = profiles.load()
    if name is None and config.current in config.profiles:
        name = config.current
    if name is not None:
        return from_profile(name, profiles.get(config, name))
    stack = localstack.find()
    if stack is None:
        raise CliError(
            "not logged in, and no local stack is running here",
            hint="start one with `vmkit local up`, or log in with `vmkit login --url URL`",
        )
    return Connection(stack.rest_url, stack.api_key, None, stack)


def from_profile(name: str, profile: profiles.Profile) -> Connection:
    if profile.local_state:
        stack = localstack.read(Path(profile.local_state))
        if stack is None:
            raise CliError(
                f"the local stack of profile {name!r} is not running "
                f"(no live {profile.local_state})",
                hint="start it with `vmkit local up`",
            )
        return Connection(stack.rest_url, stack.api_key, name, stack)
    if not profile.url or not profile.key:
        raise CliError(
            f"profile {name!r} has no URL or key",
            hint=f"log in with `vmkit login --profile {name}`",
        )
    return Connection(profile.url, profile.key, name)
