"""What the simulated GitHub remembers (besides git objects), behind one lock.

Plain dicts so the whole thing is the JSON snapshot: accounts (users, organizations
with their members), the App, installations (account, repository selection,
suspension), repositories (with Actions secret *names* and the repo's Actions key
pair), pull requests, workflow runs and hashes of issued tokens. Secret values never
enter it.

Who may see what is decided here, as GitHub decides it: a user reaches their own
account's repositories and those of organizations they are a member of; an
installation reaches its account's repositories, all of them or the selected ones.
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
        for installation in self.data["installations"].values():
            # Snapshots written before selections and suspension existed.
            installation.setdefault("repository_selection", "all")
            installation.setdefault("repository_ids", [])
            installation.setdefault("updated_at", installation["created_at"])
            installation.setdefault("suspended_at", None)
            installation.setdefault("suspended_by", None)

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
            if kind == "Organization":
                user["members"] = []
            self.data["users"][login.lower()] = user
            return user

    def is_member(self, login: str, account: dict[str, Any]) -> bool:
        """Whether `login` acts for `account`: it is that user, or a member of that org."""
        if account["login"].lower() == login.lower():
            return True
        members = account.get("members", []) if account["type"] == "Organization" else []
        return login.lower() in (member.lower() for member in members)

    # -- repositories and installations ---------------------------------------------------

    def repo(self, owner: str, name: str) -> dict[str, Any] | None:
        return self.data["repos"].get(f"{owner}/{name}".lower())

    def repos_of(self, account: str) -> list[dict[str, Any]]:
        repos = (r for r in self.data["repos"].values() if r["owner"].lower() == account.lower())
        return sorted(repos, key=lambda repo: repo["full_name"].lower())

    def user_may_access(self, login: str, repo: dict[str, Any]) -> bool:
        owner = self.user(repo["owner"])
        return owner is not None and self.is_member(login, owner)

    def installation_for(self, owner: str) -> dict[str, Any] | None:
        """The App's installation on the account `owner` (GitHub allows one)."""
        for installation in self.data["installations"].values():
            if installation["account"].lower() == owner.lower():
                return installation
        return None

    def installation(self, installation_id: Any) -> dict[str, Any] | None:
        return self.data["installations"].get(str(installation_id))

    def installations(self) -> list[dict[str, Any]]:
        return sorted(self.data["installations"].values(), key=lambda i: i["id"])

    def installation_repos(self, installation: dict[str, Any]) -> list[dict[str, Any]]:
        """The repositories the installation reaches: all of its account's, or the selected."""
        repos = self.repos_of(installation["account"])
        if installation["repository_selection"] == "all":
            return repos
        selected = set(installation["repository_ids"])
        return [repo for repo in repos if repo["id"] in selected]

    def covers(self, installation: dict[str, Any], repo: dict[str, Any]) -> bool:
        if installation["account"].lower() != repo["owner"].lower():
            return False
        return (
            installation["repository_selection"] == "all"
            or repo["id"] in installation["repository_ids"]
        )

    def installation_covering(self, repo: dict[str, Any]) -> dict[str, Any] | None:
        installation = self.installation_for(repo["owner"])
        return installation if installation and self.covers(installation, repo) else None

    def installations_visible_to(self, login: str) -> list[dict[str, Any]]:
        """What `GET /user/installations` lists: installations on the user's own account
        and on the organizations they are a member of."""
        return [
            installation
            for installation in self.installations()
            if (account := self.user(installation["account"])) and self.is_member(login, account)
        ]

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

    def forget_tokens_of(self, installation_id: int) -> None:
        self.data["tokens"] = {
            digest: grant
            for digest, grant in self.data["tokens"].items()
            if grant.get("installation_id") != installation_id
        }
