"""A local GitHub (the REST parts VMKit uses), reached by githubkit's `base_url`.

`GitHub(AppAuthStrategy(app_id, private_key), base_url=url)` works against it as
against api.github.com: the App (JWT), users and organizations with their members,
the App's installations (all or selected repositories, suspended, deleted; see
`installations.py`) and their tokens, the OAuth web flow for logins and the install
page (githubkit sends both to the same host; the web host is the API host here),
repositories backed by real bare git repos (contents, refs, trees, blobs, commits,
branches), pull requests with real merges, Actions secrets sealed with the repo's key,
and workflow dispatches whose runs are executed by the `run_workflow` hook and reported
with signed webhooks.
"""

from __future__ import annotations

import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..clock import iso_seconds, utc_now
from ..endpoint import Call, JsonApi, bearer_token
from ..faults import Fault, FaultInjector, app_with_faults
from ..hooks import RunWorkflowHook
from ..snapshot import JsonSnapshot
from . import (
    routes_actions,
    routes_apps,
    routes_git,
    routes_installations,
    routes_meta,
    routes_pulls,
)
from .actions import ActionsService
from .auth import ANONYMOUS, Principal, load_or_create_app_key, public_key_of, verify_app_jwt
from .errors import (
    GitHubError,
    bad_credentials,
    installation_suspended,
    not_accessible_by_integration,
    not_found,
    problems_parsing_json,
)
from .gitstore import ZERO_SHA, Change, GitRepo, Signature
from .installations import Installations
from .routes_meta import MetaRanges
from .shapes import installation_ref_json, repo_json, user_json
from .state import GitHubState
from .webhooks import Delivery, WebhookSender


@dataclass(frozen=True)
class CreatedRepo:
    full_name: str
    id: int
    default_branch: str
    head_sha: str
    git_dir: Path


class GitHubSimulator:
    """State and ASGI app of the simulated GitHub; serve `.app` at the API's root."""

    def __init__(
        self,
        *,
        data_dir: Path | None = None,
        app_id: int = 1,
        app_slug: str = "vmkit-local",
        app_name: str = "VMKit (local)",
        app_private_key_pem: str | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        oauth_callback_url: str | None = None,
        signed_in_user: str = "octocat",
        run_workflow: RunWorkflowHook | None = None,
    ) -> None:
        """Without `data_dir` everything lives in a temporary directory removed by
        `close()`; with it, `data_dir/github/` keeps the bare repos, `state.json` and the
        App key (`app-private-key.pem`, generated once unless `app_private_key_pem` is
        given). `webhook_url`/`webhook_secret` (or `configure_webhook`) say where the
        App's deliveries go. `run_workflow` executes dispatched runs; without it they
        stay queued. Call `close()` to stop the run and delivery threads."""
        self._scratch = None if data_dir else tempfile.TemporaryDirectory(prefix="github-sim-")
        self.root = data_dir / "github" if data_dir else Path(self._scratch.name)
        persistent = data_dir is not None
        self.state = GitHubState(JsonSnapshot(self.root / "state.json" if persistent else None))
        self._private_key_pem = load_or_create_app_key(
            self.root / "app-private-key.pem" if persistent else None, app_private_key_pem
        )
        self._public_key = public_key_of(self._private_key_pem)
        self._ensure_app(app_id, app_slug, app_name)
        self.oauth_callback_url = oauth_callback_url
        self.signed_in_user = signed_in_user
        """The user signed in on the web host: who the OAuth flow authorizes and who
        installs the App on the install page. Set it to sign in as someone else."""
        self.setup_url: str | None = None
        """The App's "Setup URL" (see `configure_setup_url`)."""
        self.base_url = "http://localhost"
        """Where the simulator was last reached; the URLs of webhooks that the Python API
        (not a request) causes point there."""
        self.faults = FaultInjector()
        self.webhooks = WebhookSender(hook_id=app_id * 1000 + 1, app_id=app_id)
        self.webhooks.configure(webhook_url, webhook_secret)
        self.installations = Installations(self)
        self.actions = ActionsService(self, run_workflow)
        self.meta = MetaRanges()
        """What `GET /meta` publishes (`meta.set_actions_ranges` changes the runners')."""
        self.app = self._build_app()

    # -- the App's credentials -----------------------------------------------------------

    @property
    def app_id(self) -> int:
        return self.state.data["app"]["id"]

    @property
    def app_slug(self) -> str:
        return self.state.data["app"]["slug"]

    @property
    def app_private_key_pem(self) -> str:
        return self._private_key_pem

    @property
    def client_id(self) -> str:
        return self.state.data["app"]["client_id"]

    @property
    def client_secret(self) -> str:
        return self.state.data["app"]["client_secret"]

    @property
    def bot_login(self) -> str:
        return f"{self.app_slug}[bot]"

    def _ensure_app(self, app_id: int, slug: str, name: str) -> None:
        with self.state.lock:
            app = self.state.data["app"]
            if app is None or app["id"] != app_id:
                app = {
                    "id": app_id,
                    "slug": slug,
                    "name": name,
                    "client_id": "Iv23li" + secrets.token_hex(7),
                    "client_secret": secrets.token_hex(20),
                    "created_at": iso_seconds(utc_now()),
                }
                self.state.data["app"] = app
            self.state.ensure_user(f"{slug}-owner", kind="Organization")
            self.state.ensure_user(self.bot_login, kind="Bot")
            self.state.save()

    # -- Python API for tests and the local stack ------------------------------------------

    def add_user(self, login: str, *, name: str | None = None, email: str | None = None) -> None:
        with self.state.lock:
            self.state.ensure_user(login, name=name, email=email)
            self.state.save()

    def account_id(self, login: str) -> int:
        """The id of a user or organization (the install page's `target_id`)."""
        with self.state.lock:
            return self.installations.account(login)["id"]

    def add_org(self, login: str, members: list[str] | tuple[str, ...] = ()) -> None:
        """An organization (made if missing) with `members` (users, made if missing)."""
        with self.state.lock:
            existing = self.state.user(login)
            if existing is not None and existing["type"] != "Organization":
                raise ValueError(f"{login} is a {existing['type']}, not an organization")
            self.state.ensure_user(login, kind="Organization")
            for member in members:
                self._join(login, member)
            self.state.save()

    def add_org_member(self, org: str, login: str) -> None:
        with self.state.lock:
            self._join(org, login)
            self.state.save()

    def remove_org_member(self, org: str, login: str) -> None:
        with self.state.lock:
            account = self._org(org)
            account["members"] = [m for m in account["members"] if m.lower() != login.lower()]
            self.state.save()

    def _org(self, login: str) -> dict[str, Any]:
        account = self.state.user(login)
        if account is None or account["type"] != "Organization":
            raise ValueError(f"there is no organization {login}")
        return account

    def _join(self, org: str, login: str) -> None:
        account = self._org(org)
        user = self.state.ensure_user(login)
        if user["type"] != "User":
            raise ValueError(f"{login} is a {user['type']}; only users join organizations")
        if not self.state.is_member(user["login"], account):
            account["members"].append(user["login"])

    def install_app(
        self, account: str, repositories: list[str] | None = None, *, by: str | None = None
    ) -> int:
        """Install the App on `account` over all its repositories (None) or the named
        ones; sends `installation` created. `by` is the user who installs (default: the
        account's user, or an organization's first member)."""
        return self.installations.install(account, repositories, by=by)["id"]

    def uninstall(self, installation_id: int, *, by: str | None = None) -> None:
        """Delete the installation: its tokens answer 401; sends `installation` deleted."""
        self.installations.uninstall(installation_id, by=by)

    def suspend(self, installation_id: int, *, by: str | None = None) -> None:
        """Suspend the installation: its tokens answer 403; sends `installation` suspend."""
        self.installations.suspend(installation_id, by=by)

    def unsuspend(self, installation_id: int, *, by: str | None = None) -> None:
        self.installations.unsuspend(installation_id, by=by)

    def set_installation_repositories(
        self,
        installation_id: int,
        *,
        add: list[str] | tuple[str, ...] = (),
        remove: list[str] | tuple[str, ...] = (),
        by: str | None = None,
    ) -> None:
        """Add or remove repositories (by name) of a now "selected" installation; sends
        `installation_repositories` added/removed."""
        self.installations.change_repositories(installation_id, add, remove, by=by)

    def configure_setup_url(self, url: str | None) -> None:
        """The App's "Setup URL": where the install page sends the browser afterwards,
        with `installation_id`, `setup_action` and the `state` it was given."""
        self.setup_url = url

    def create_repo(
        self,
        owner: str,
        name: str,
        files: dict[str, bytes | str] | None = None,
        source_dir: Path | None = None,
        *,
        default_branch: str = "main",
        private: bool = True,
        install_app: bool = True,
        description: str | None = None,
    ) -> CreatedRepo:
        """A repository with one initial commit of `files` (or the files of `source_dir`).

        `install_app` puts it in reach of the App: installs it on the owner (all
        repositories) unless the owner has an installation, or adds the repository to
        an installation on selected ones."""
        contents = dict(files or {})
        if source_dir is not None:
            contents.update(_files_of(source_dir))
        with self.state.lock:
            if self.state.repo(owner, name) is not None:
                raise ValueError(f"{owner}/{name} already exists")
            account = self.state.ensure_user(owner)
            now = iso_seconds(utc_now())
            repo = {
                "id": self.state.new_id(),
                "name": name,
                "owner": account["login"],
                "full_name": f"{account['login']}/{name}",
                "private": private,
                "description": description,
                "default_branch": default_branch,
                "created_at": now,
                "pushed_at": now,
                "next_number": 1,
                "secrets": {},
            }
            git = GitRepo.init(self.git_dir(repo), default_branch)
            changes = [
                Change(path, sha=git.write_blob(data.encode() if isinstance(data, str) else data))
                for path, data in sorted(contents.items())
            ]
            author = Signature(account["name"] or owner, _noreply(account), utc_now())
            head = git.commit_tree(git.build_tree(None, changes), [], "Initial commit\n", author)
            git.update_ref(f"refs/heads/{default_branch}", head, ZERO_SHA)
            self.state.data["repos"][repo["full_name"].lower()] = repo
            self.state.save()
            if install_app:
                self.installations.cover_new_repo(repo)
        return CreatedRepo(repo["full_name"], repo["id"], default_branch, head, git.git_dir)

    def installation_id(self, owner: str) -> int | None:
        with self.state.lock:
            installation = self.state.installation_for(owner)
            return installation["id"] if installation else None

    def configure_webhook(self, url: str | None, secret: str | None) -> None:
        """Where the App's webhooks go (the local REST app's `/api/webhooks/github`)."""
        self.webhooks.configure(url, secret)

    def deliveries(self) -> list[Delivery]:
        return self.webhooks.deliveries()

    def redeliver(self, guid: str) -> Delivery:
        """Send a past delivery again, with the same `X-GitHub-Delivery`."""
        return self.webhooks.redeliver(guid)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until dispatched runs finished and their webhooks were delivered."""
        return self.actions.wait_idle(timeout) and self.webhooks.wait_idle(timeout)

    def run_log(self, run_id: int) -> str | None:
        return self.actions.log(run_id)

    def close(self) -> None:
        self.actions.close()
        self.webhooks.close()
        if self._scratch is not None:
            self._scratch.cleanup()

    # -- helpers for the route modules -------------------------------------------------------

    def git_dir(self, repo: dict[str, Any]) -> Path:
        return self.root / "repos" / repo["owner"].lower() / f"{repo['name'].lower()}.git"

    def git(self, repo: dict[str, Any]) -> GitRepo:
        return GitRepo(self.git_dir(repo))

    def repo_for(self, call: Call) -> dict[str, Any]:
        """The repository of the path, if the caller may see it (else 404, as for private repos)."""
        repo = self.state.repo(call.path_params["owner"], call.path_params["repo"])
        principal: Principal = call.principal
        if principal.kind == "app":
            raise not_accessible_by_integration()
        if repo is None or not self._may_access(principal, repo):
            raise not_found()
        return repo

    def _may_access(self, principal: Principal, repo: dict[str, Any]) -> bool:
        """An installation reaches the repositories it covers (and a token limited to
        some, only those); a user's token from this App reaches what both the user and
        an unsuspended installation of the App reach, as GitHub's user access tokens do."""
        if principal.kind == "installation":
            installation = self.state.installation(principal.installation_id)
            limited = principal.repositories
            return (
                installation is not None
                and self.state.covers(installation, repo)
                and (limited is None or repo["full_name"].lower() in limited)
            )
        if principal.kind == "user":
            installation = self.state.installation_covering(repo)
            return (
                principal.login is not None
                and self.state.user_may_access(principal.login, repo)
                and installation is not None
                and installation["suspended_at"] is None
            )
        return False

    def actor(self, call: Call) -> dict[str, Any]:
        principal: Principal = call.principal
        user = self.state.user(principal.login or "")
        if user is None:
            raise GitHubError(401, "Requires authentication")
        return user

    def user_json(self, base: str, login: str) -> dict[str, Any]:
        return user_json(base, self.state.user(login))

    def repo_json(self, base: str, repo: dict[str, Any]) -> dict[str, Any]:
        open_pulls = sum(1 for pull in self.state.pulls_of(repo) if pull["state"] == "open")
        return repo_json(base, {**repo, "open_pulls": open_pulls}, self.state.user(repo["owner"]))

    def send_webhook(
        self, event: str, payload: dict[str, Any], *, repo: dict[str, Any], base: str, sender: str
    ) -> None:
        """Deliver `payload` with the `repository`, `sender` and `installation` GitHub adds.

        An App only hears about repositories an installation of it covers, and nothing
        while that installation is suspended.
        """
        installation = self.state.installation_covering(repo)
        if installation is None or installation["suspended_at"] is not None:
            return
        full_payload = {
            **payload,
            "repository": self.repo_json(base, repo),
            "sender": self.user_json(base, sender),
            "installation": installation_ref_json(installation["id"]),
        }
        self.webhooks.send(event, full_payload)

    # -- wiring ------------------------------------------------------------------------------

    def _authenticate(self, call: Call) -> Principal:
        token = bearer_token(call)
        if token is None:
            return ANONYMOUS
        if token.count(".") == 2:
            app = self.state.data["app"]
            verify_app_jwt(token, self._public_key, {str(app["id"]), app["client_id"]})
            return Principal("app", login=self.bot_login)
        with self.state.lock:
            grant = self.state.token_grant(token)
            installation = grant and self.state.installation(grant.get("installation_id"))
        if grant is None or (grant.get("expires_at") or "9999") < iso_seconds(utc_now()):
            raise bad_credentials()
        if grant["kind"] == "installation":
            if not installation:  # uninstalled: its tokens are revoked
                raise bad_credentials()
            if installation["suspended_at"] is not None:
                raise installation_suspended()
            limited = grant.get("repositories")
            return Principal(
                "installation",
                self.bot_login,
                grant["installation_id"],
                tuple(name.lower() for name in limited) if limited else None,
            )
        return Principal("user", grant["login"])

    def _build_app(self) -> Any:
        api = JsonApi(bad_json=problems_parsing_json, authenticate=self._authenticate)
        for module in (
            routes_apps,
            routes_installations,
            routes_git,
            routes_pulls,
            routes_actions,
            routes_meta,
        ):
            module.register(api, self)
        app = app_with_faults(
            [
                *routes_apps.oauth_routes(self),
                *routes_installations.page_routes(self),
                *api.routes,
                *routes_actions.page_routes(self),
            ],
            injector=self.faults,
            render=_render_fault,
            exception_handlers={404: _not_found, 405: _not_found},
        )
        return _noting_base_url(app, self)


def _noting_base_url(app: Any, sim: GitHubSimulator) -> Any:
    """The app, noting in `sim.base_url` where each request reached it."""

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            sim.base_url = str(Request(scope).base_url).rstrip("/")
        await app(scope, receive, send)

    return asgi


def _noreply(user: dict[str, Any]) -> str:
    return user.get("email") or f"{user['id']}+{user['login']}@users.noreply.github.com"


def _files_of(source_dir: Path) -> dict[str, bytes]:
    return {
        path.relative_to(source_dir).as_posix(): path.read_bytes()
        for path in sorted(source_dir.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(source_dir).parts
    }


def _render_fault(fault: Fault) -> Response:
    """Rate limits carry GitHub's x-ratelimit headers (githubkit waits until the reset).

    The reset is at least a second away: GitHub's always is, and githubkit reads a wait
    of zero as "wait a minute".
    """
    if fault.status in (403, 429):
        reset = int(utc_now().timestamp()) + max(fault.retry_after, 1)
        headers = {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-used": "5000",
            "x-ratelimit-reset": str(reset),
            "x-ratelimit-resource": "core",
        }
        message = "API rate limit exceeded for installation. Wait before retrying."
        return GitHubError(fault.status, message, headers=headers).to_response()
    messages = {502: "Server Error", 503: "Service Unavailable"}
    return GitHubError(fault.status, messages.get(fault.status, "Server Error")).to_response()


async def _not_found(request: Request, exc: Exception) -> Response:
    return not_found().to_response()
