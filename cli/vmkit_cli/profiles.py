"""Profiles: which VMKit to talk to, with which key, kept in `config.toml`.

The file is `$XDG_CONFIG_HOME/vmkit/config.toml` (`~/.config/vmkit/config.toml` by
default), written with mode 600 in a directory of mode 700, since it holds API keys:

    current = "prod"

    [profiles.prod]
    url = "https://abc123.execute-api.eu-central-1.amazonaws.com"
    key = "vmk_…"

    [profiles.local]
    local_state = "/home/me/src/vmkit/.vmkit/local.json"

A local profile stores where the local stack's state file is rather than a URL and a
key: the stack picks new ports and a new admin key each time it starts, and the CLI
reads both from the file on every command.

Which profile a command uses: `--profile NAME`, else `VMKIT_PROFILE`, else `current`
(set by the last `vmkit login`); with none of those, a running local stack found
from the current directory (`vmkit_cli.localstack`), so nothing needs logging in
to try VMKit locally.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from vmkit_cli.errors import CliError, UsageError

PROFILE_ENV = "VMKIT_PROFILE"


@dataclass
class Profile:
    url: str | None = None
    key: str | None = None
    local_state: str | None = None  # a local stack's `.vmkit/local.json`

    def to_toml(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v is not None}


@dataclass
class Config:
    path: Path
    current: str | None = None
    profiles: dict[str, Profile] = field(default_factory=dict)

    def save(self) -> None:
        """Write atomically with mode 600: a half-written file or a readable key is worse."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        data: dict[str, object] = {}
        if self.current:
            data["current"] = self.current
        data["profiles"] = {name: p.to_toml() for name, p in sorted(self.profiles.items())}
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            tomli_w.dump(data, out)
        os.replace(temporary, self.path)
        os.chmod(self.path, 0o600)  # an older file may have had looser bits


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "vmkit" / "config.toml"


def load() -> Config:
    path = config_path()
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return Config(path)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CliError(
            f"cannot read {path}: {exc}", hint="fix or delete the file, then `vmkit login`"
        ) from None
    profiles = {}
    for name, values in (data.get("profiles") or {}).items():
        if not isinstance(values, dict):
            raise CliError(f"{path}: profile {name!r} is not a table", hint="fix or delete it")
        known = {k: str(v) for k, v in values.items() if k in ("url", "key", "local_state")}
        profiles[name] = Profile(**known)
    current = data.get("current")
    return Config(path, current if isinstance(current, str) else None, profiles)


def chosen_name(flag: str | None) -> str | None:
    """The profile asked for on the command line or in the environment, if any."""
    return flag or os.environ.get(PROFILE_ENV) or None


def get(config: Config, name: str) -> Profile:
    try:
        return config.profiles[name]
    except KeyError:
        known = ", ".join(sorted(config.profiles)) or "none yet"
        raise UsageError(
            f"no profile {name!r} in {config.path} (profiles: {known})",
            hint=f"log in with `vmkit login --profile {name}`",
        ) from None
