"""Kamal 2's secrets: `.kamal/secrets-common` and `.kamal/secrets[.<destination>]`.

They are dotenv files whose values usually interpolate the environment the deploy runs
in (`KAMAL_REGISTRY_PASSWORD=$KAMAL_REGISTRY_PASSWORD`); on GitHub that environment is
the workflow step's, filled from the repository's Actions secrets. Here the runner's
`secrets` mapping plays that environment. A name the files do not define is an error
with Kamal's message, so a config that names a secret the onboarding files forgot
fails locally as it would in Actions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from vmkit_local.sandbox.kamal_config import KamalConfigError

_ASSIGNMENT = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")
_REFERENCE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


class KamalSecrets:
    def __init__(
        self,
        checkout: Path,
        secrets_path: str,
        destination: str | None,
        environment: Mapping[str, str],
    ):
        suffix = f".{destination}" if destination else ""
        self._filenames = [f"{secrets_path}-common", f"{secrets_path}{suffix}"]
        self._files = [name for name in self._filenames if (checkout / name).is_file()]
        self._values: dict[str, str] = {}
        for name in self._files:
            self._values.update(_parse((checkout / name).read_text(), environment, name))

    def __getitem__(self, key: str) -> str:
        if key in self._values:
            return self._values[key]
        if self._files:
            raise KamalConfigError(f"Secret '{key}' not found in {', '.join(self._files)}")
        raise KamalConfigError(
            f"Secret '{key}' not found, no secret files ({', '.join(self._filenames)}) provided"
        )

    def require(self, keys: Iterable[str]) -> None:
        """Fail now, before anything is built, if a secret the config names is missing."""
        for key in keys:
            self[key]

    def values(self) -> list[str]:
        return list(self._values.values())


def _parse(text: str, environment: Mapping[str, str], filename: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _ASSIGNMENT.match(line)
        if match is None:
            raise KamalConfigError(f"{filename}:{number}: not a KEY=value line")
        key, value = match.groups()
        if "$(" in value:
            raise KamalConfigError(
                f"{filename}:{number}: command substitution $(...) (kamal secrets fetch, "
                "password managers) is not run by the local runner"
            )
        if len(value) >= 2 and value[0] == value[-1] == "'":
            values[key] = value[1:-1]  # single quotes: literal, as in dotenv
            continue
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].rstrip()
        values[key] = _interpolate(value, {**environment, **values})
    return values


def _interpolate(value: str, lookup: Mapping[str, str]) -> str:
    return _REFERENCE.sub(lambda match: lookup.get(match.group(1) or match.group(2), ""), value)
