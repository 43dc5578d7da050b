"""What the simulated GitHub remembers (besides git objects), behind one lock.

Plain dicts so the whole thing is the JSON snapshot: users, the App, installations,
repositories (with Actions secret *names* and the repo's Actions key pair), pull
requests, workflow runs and hashes of issued tokens. Secret values never enter it.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

from ..clock import iso_seconds, utc_now
from ..snapshot import JsonSnapshot


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class GitHubState:
    def __init__(self, snapshot: JsonSnapshot) -> None:
        self.lock = threading.RLock()
        self._snapshot = snapshot
        self.data: dict[str, Any] = snapshot.load() or {
            "next_id": 100_000,
            "app": None,
            "users": {},
            "installations": {},
            "repos": {},
            "pulls": {},
            "runs": {},
            "tokens": {},
        }

    def save(self) -> None:
        with self.lock:
            self._snapshot.save(self.data)

    def new_id(self) -> int:
        with self.lock:
            self.data["next_id"] += 1
            return self.data["next_id"]

    # -- users ------------------------------------------------------------------------

    def user(self, login: str) -> dict[str, Any] | None:
        return self.data["users"].get(login.lower())

    def ensure_user(
        self,
        login: str,
        *,
        kind: str = "User",
        name: str | None = None,
        email: str | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            existing = self.user(login)
            if existing is not None:
                return existing
            user = {
                "login": login,
                "id": self.new_id(),
                "type": kind,
                "name": name,
                "email": email,
                "created_at": iso_seconds(utc_now()),
            }
            self.data["users"][login.lower()] = user
            return user

    # -- repositories and installations ---------------------------------------------------

    def repo(self, owner: str, name: str) -> dict[str, Any] | None:
        return self.data["repos"].get(f"{owner}/{name}".lower())

    def installation_for(self, owner: str) -> dict[str, Any] | None:
        for installation in self.data["installations"].values():
            if installation["account"].lower() == owner.lower():
                return installation
        return None

    def installation(self, installation_id: Any) -> dict[str, Any] | None:
        return self.data["installations"].get(str(installation_id))

    # -- pulls and runs -------------------------------------------------------------------

    def pull(self, repo: dict[str, Any], number: Any) -> dict[str, Any] | None:
        return self.data["pulls"].get(f"{repo['full_name'].lower()}#{number}")

    def pulls_of(self, repo: dict[str, Any]) -> list[dict[str, Any]]:
        prefix = repo["full_name"].lower() + "#"
        pulls = [pull for key, pull in self.data["pulls"].items() if key.startswith(prefix)]
        return sorted(pulls, key=lambda pull: pull["number"])

    def add_pull(self, repo: dict[str, Any], pull: dict[str, Any]) -> None:
        self.data["pulls"][f"{repo['full_name'].lower()}#{pull['number']}"] = pull

    def run(self, run_id: Any) -> dict[str, Any] | None:
        return self.data["runs"].get(str(run_id))

    def runs_of(self, repo: dict[str, Any]) -> list[dict[str, Any]]:
        runs = [run for run in self.data["runs"].values() if run["repo"] == repo["full_name"]]
        return sorted(runs, key=lambda run: run["id"], reverse=True)

    # -- tokens ---------------------------------------------------------------------------

    def remember_token(self, token: str, grant: dict[str, Any]) -> None:
        self.data["tokens"][token_hash(token)] = grant

    def token_grant(self, token: str) -> dict[str, Any] | None:
        return self.data["tokens"].get(token_hash(token))
