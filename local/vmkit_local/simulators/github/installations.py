"""The App's installations: on which account, over which repositories, in which state.

As on GitHub, an App has at most one installation per account (a user or an
organization). It covers all of the account's repositories (`repository_selection`
"all", including repositories created later) or the selected ones. It can be
suspended (its tokens then answer 403, and the App hears nothing of its repositories)
and deleted (its tokens answer 401 and it leaves every listing). Each change is told
to the App with the webhook GitHub sends for it (`installation` created, deleted,
suspend, unsuspend; `installation_repositories` added, removed), from the user who
made it.

Bad input from the Python API (an unknown account or repository, a second
installation on an account, an empty selection) raises `ValueError` and changes
nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..clock import iso_seconds, utc_now
from .shapes import installation_json, user_json, webhook_repo_item_json

if TYPE_CHECKING:
    from .simulator import GitHubSimulator

ACCOUNT_TYPES = ("User", "Organization")


class Installations:
    def __init__(self, sim: GitHubSimulator) -> None:
        self._sim = sim
        self._state = sim.state

    def json(self, base: str, installation: dict[str, Any]) -> dict[str, Any]:
        state = self._state
        suspender = installation["suspended_by"]
        return installation_json(
            base,
            installation,
            state.user(installation["account"]),
            state.data["app"],
            state.user(suspender) if suspender else None,
        )

    # -- changes --------------------------------------------------------------------------

    def install(
        self,
        login: str,
        repositories: Iterable[str] | None,
        *,
        by: str | None = None,
        base: str | None = None,
    ) -> dict[str, Any]:
        """Install the App on the account `login`, over all its repositories (None) or
        the named ones."""
        with self._state.lock:
            account = self.account(login)
            existing = self._state.installation_for(account["login"])
            if existing is not None:
                raise ValueError(
                    f"the App is already installed on {account['login']} "
                    f"(installation {existing['id']})"
                )
            selected = None if repositories is None else self._repos_named(account, repositories)
            if selected == []:
                raise ValueError("an installation on selected repositories needs at least one")
            actor = self._actor(account, by)
            now = iso_seconds(utc_now())
            installation = {
                "id": self._state.new_id(),
                "account": account["login"],
                "repository_selection": "all" if selected is None else "selected",
                "repository_ids": sorted(repo["id"] for repo in selected or []),
                "created_at": now,
                "updated_at": now,
                "suspended_at": None,
                "suspended_by": None,
            }
            self._state.data["installations"][str(installation["id"])] = installation
            self._state.save()
            repos = self._state.installation_repos(installation)
            self._announce(
                "installation",
                "created",
                installation,
                actor,
                base,
                repositories=[webhook_repo_item_json(repo) for repo in repos],
                requester=None,
            )
            return installation

    def uninstall(
        self, installation_id: int, *, by: str | None = None, base: str | None = None
    ) -> None:
        with self._state.lock:
            installation = self.get(installation_id)
            actor = self._actor(self.account(installation["account"]), by)
            repos = self._state.installation_repos(installation)
            del self._state.data["installations"][str(installation["id"])]
            self._state.forget_tokens_of(installation["id"])
            self._state.save()
            self._announce(
                "installation",
                "deleted",
                installation,
                actor,
                base,
                repositories=[webhook_repo_item_json(repo) for repo in repos],
            )

    def suspend(
        self, installation_id: int, *, by: str | None = None, base: str | None = None
    ) -> None:
        """Suspend the installation; suspending a suspended one changes nothing."""
        with self._state.lock:
            installation = self.get(installation_id)
            if installation["suspended_at"] is not None:
                return
            actor = self._actor(self.account(installation["account"]), by)
            now = iso_seconds(utc_now())
            installation.update(suspended_at=now, suspended_by=actor["login"], updated_at=now)
            self._state.save()
            self._announce("installation", "suspend", installation, actor, base)

    def unsuspend(
        self, installation_id: int, *, by: str | None = None, base: str | None = None
    ) -> None:
        with self._state.lock:
            installation = self.get(installation_id)
            if installation["suspended_at"] is None:
                return
            actor = self._actor(self.account(installation["account"]), by)
            installation.update(
                suspended_at=None, suspended_by=None, updated_at=iso_seconds(utc_now())
            )
            self._state.save()
            self._announce("installation", "unsuspend", installation, actor, base)

    def change_repositories(
        self,
        installation_id: int,
        add: Iterable[str] = (),
        remove: Iterable[str] = (),
        *,
        by: str | None = None,
        base: str | None = None,
    ) -> None:
        """Add and remove repositories (by name); the selection becomes "selected"."""
        with self._state.lock:
            installation = self.get(installation_id)
            account = self.account(installation["account"])
            adding = self._repos_named(account, add)
            removing = self._repos_named(account, remove)
            both = {repo["full_name"] for repo in adding} & {repo["full_name"] for repo in removing}
            if both:
                raise ValueError(f"{', '.join(sorted(both))}: both added and removed")
            before = {repo["id"] for repo in self._state.installation_repos(installation)}
            after = (before | {repo["id"] for repo in adding}) - {repo["id"] for repo in removing}
            if not after:
                raise ValueError(
                    "an installation needs at least one repository; uninstall it instead"
                )
            actor = self._actor(account, by)
            installation.update(
                repository_selection="selected",
                repository_ids=sorted(after),
                updated_at=iso_seconds(utc_now()),
            )
            self._state.save()
            added = [repo for repo in adding if repo["id"] not in before]
            removed = [repo for repo in removing if repo["id"] in before]
            for action, repos in (("added", added), ("removed", removed)):
                if repos:
                    self._announce_repositories(installation, actor, base, action, repos)

    def cover_new_repo(self, repo: dict[str, Any]) -> None:
        """`create_repo(install_app=True)`: install on the owner, or add to its selection."""
        with self._state.lock:
            installation = self._state.installation_for(repo["owner"])
            if installation is None:
                self.install(repo["owner"], None)
            elif not self._state.covers(installation, repo):
                self.change_repositories(installation["id"], add=[repo["name"]])

    def install_from_page(
        self, login: str, target_id: int | None, repository_ids: list[int], base: str
    ) -> tuple[dict[str, Any], str]:
        """What GitHub's install page does for the signed-in user `login`: install on
        their own account or on `target_id` (an organization they are a member of), over
        all repositories or the `repository_ids`; on an account that has the App, add
        those repositories. Returns the installation and the `setup_action` GitHub
        passes to the setup URL ("install", or "update" for an existing installation)."""
        with self._state.lock:
            user = self.account(login)
            account = user if target_id is None else self._account_with_id(target_id)
            if account is None or not self._state.is_member(login, account):
                raise ValueError(f"{login} cannot install the App on account {target_id}")
            by_id = {repo["id"]: repo for repo in self._state.repos_of(account["login"])}
            unknown = [ident for ident in repository_ids if ident not in by_id]
            if unknown:
                raise ValueError(f"{account['login']} has no repository {unknown[0]}")
            names = [by_id[ident]["name"] for ident in repository_ids]
            existing = self._state.installation_for(account["login"])
            if existing is None:
                created = self.install(account["login"], names or None, by=login, base=base)
                return created, "install"
            if names and existing["repository_selection"] == "selected":
                self.change_repositories(existing["id"], add=names, by=login, base=base)
            return existing, "update"

    def _account_with_id(self, account_id: int) -> dict[str, Any] | None:
        return next(
            (
                user
                for user in self._state.data["users"].values()
                if user["id"] == account_id and user["type"] in ACCOUNT_TYPES
            ),
            None,
        )

    # -- lookups --------------------------------------------------------------------------

    def get(self, installation_id: int) -> dict[str, Any]:
        installation = self._state.installation(installation_id)
        if installation is None:
            raise ValueError(f"there is no installation {installation_id}")
        return installation

    def account(self, login: str) -> dict[str, Any]:
        account = self._state.user(login)
        if account is None or account["type"] not in ACCOUNT_TYPES:
            raise ValueError(f"{login} is not a user or an organization")
        return account

    def _repos_named(self, account: dict[str, Any], names: Iterable[str]) -> list[dict[str, Any]]:
        if isinstance(names, str):
            raise ValueError("repositories are a list of names, not one string")
        repos = []
        for name in names:
            repo = self._state.repo(account["login"], name)
            if repo is None:
                raise ValueError(f"{account['login']}/{name} does not exist")
            repos.append(repo)
        return repos

    def _actor(self, account: dict[str, Any], by: str | None) -> dict[str, Any]:
        """Who made the change: `by`, else the account's user (or an org's first member)."""
        if by is not None:
            actor = self._state.user(by)
            if actor is None:
                raise ValueError(f"there is no user {by}")
            return actor
        members = account.get("members") or []
        return self._state.user(members[0]) if members else account

    # -- webhooks -------------------------------------------------------------------------

    def _base(self, base: str | None) -> str:
        return base or self._sim.base_url

    def _announce(
        self,
        event: str,
        action: str,
        installation: dict[str, Any],
        actor: dict[str, Any],
        base: str | None,
        **extra: Any,
    ) -> None:
        base = self._base(base)
        payload = {
            "action": action,
            "installation": self.json(base, installation),
            **extra,
            "sender": user_json(base, actor),
        }
        self._sim.webhooks.send(event, payload)

    def _announce_repositories(
        self,
        installation: dict[str, Any],
        actor: dict[str, Any],
        base: str | None,
        action: str,
        repos: list[dict[str, Any]],
    ) -> None:
        items = [webhook_repo_item_json(repo) for repo in repos]
        self._announce(
            "installation_repositories",
            action,
            installation,
            actor,
            base,
            repository_selection=installation["repository_selection"],
            repositories_added=items if action == "added" else [],
            repositories_removed=items if action == "removed" else [],
            requester=None,
        )
