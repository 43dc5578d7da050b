"""JSON shapes of GitHub's REST resources and webhook payloads, from the simulator's records.

Field sets follow GitHub's REST OpenAPI description as githubkit's models encode it
(and @octokit/webhooks-examples for payloads); the tests validate every shape through
those models. URLs point at the simulator: the API at `{base}/repos/...`, pages at
`{base}/{owner}/{repo}/...`, as on GitHub Enterprise.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

from ..endpoint import Call
from .gitstore import CommitInfo, Signature, TreeEntry

API_VERSION_2026 = "2026-03-10"
# Fields REST version 2026-03-10 dropped from pull requests and repositories; older
# versions (the default without the header) and webhook payloads still carry them.
REMOVED_IN_2026 = frozenset(
    {"assignee", "merge_commit_sha", "has_downloads", "use_squash_pr_title_as_default"}
)


def speaks_2026(call: Call) -> bool:
    """Whether the client asked for REST API version 2026-03-10 (githubkit 0.16 does)."""
    return call.headers.get("x-github-api-version", "") >= API_VERSION_2026


def for_rest(call: Call, body: Any) -> Any:
    """A response body shaped for the REST API version the client asked for."""
    return _without(body, REMOVED_IN_2026) if speaks_2026(call) else body


def _without(value: Any, keys: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {key: _without(item, keys) for key, item in value.items() if key not in keys}
    if isinstance(value, list):
        return [_without(item, keys) for item in value]
    return value


def node_id(kind: str, ident: int | str) -> str:
    """GitHub's legacy global node id: base64 of `0<len>:<Type><id>`."""
    return base64.b64encode(f"0{len(kind)}:{kind}{ident}".encode()).decode()


def wrapped_base64(data: bytes) -> str:
    """Base64 with a newline every 60 characters, as the contents and blobs APIs send it."""
    encoded = base64.b64encode(data).decode()
    return "".join(encoded[i : i + 60] + "\n" for i in range(0, len(encoded), 60))


# -- users, apps, installations ---------------------------------------------------------


def user_json(base: str, user: dict[str, Any]) -> dict[str, Any]:
    login = user["login"]
    api = f"{base}/users/{quote(login)}"
    return {
        "login": login,
        "id": user["id"],
        "node_id": node_id(user["type"], user["id"]),
        "avatar_url": f"{base}/avatars/u/{user['id']}?v=4",
        "gravatar_id": "",
        "url": api,
        "html_url": f"{base}/{quote(login)}",
        "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events",
        "type": user["type"],
        "user_view_type": "public",
        "site_admin": False,
    }


def private_user_json(base: str, user: dict[str, Any], repo_counts: tuple[int, int]) -> dict:
    public_repos, private_repos = repo_counts
    return {
        **user_json(base, user),
        "name": user.get("name"),
        "company": None,
        "blog": "",
        "location": None,
        "email": user.get("email"),
        "hireable": None,
        "bio": None,
        "twitter_username": None,
        "notification_email": user.get("email"),
        "public_repos": public_repos,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "created_at": user["created_at"],
        "updated_at": user["created_at"],
        "private_gists": 0,
        "total_private_repos": private_repos,
        "owned_private_repos": private_repos,
        "disk_usage": 0,
        "collaborators": 0,
        "two_factor_authentication": True,
        "plan": {"name": "free", "space": 976562499, "private_repos": 10000, "collaborators": 0},
    }


APP_PERMISSIONS = {
    "actions": "write",
    "contents": "write",
    "metadata": "read",
    "pull_requests": "write",
    "secrets": "write",
    "workflows": "write",
}
APP_EVENTS = ["pull_request", "workflow_run"]


def app_json(base: str, app: dict[str, Any], owner: dict[str, Any], installs: int) -> dict:
    return {
        "id": app["id"],
        "slug": app["slug"],
        "client_id": app["client_id"],
        "node_id": node_id("Integration", app["id"]),
        "owner": user_json(base, owner),
        "name": app["name"],
        "description": "VMKit deploys repositories to servers you own.",
        "external_url": base,
        "html_url": f"{base}/apps/{app['slug']}",
        "created_at": app["created_at"],
        "updated_at": app["created_at"],
        "permissions": APP_PERMISSIONS,
        "events": APP_EVENTS,
        "installations_count": installs,
    }


def installation_json(
    base: str,
    installation: dict[str, Any],
    account: dict[str, Any],
    app: dict[str, Any],
    suspended_by: dict[str, Any] | None,
) -> dict[str, Any]:
    """The installation as the REST API and the `installation*` webhooks carry it."""
    ident = installation["id"]
    return {
        "id": ident,
        "client_id": app["client_id"],
        "account": user_json(base, account),
        "repository_selection": installation["repository_selection"],
        "access_tokens_url": f"{base}/app/installations/{ident}/access_tokens",
        "repositories_url": f"{base}/installation/repositories",
        "html_url": f"{base}/settings/installations/{ident}",
        "app_id": app["id"],
        "app_slug": app["slug"],
        "target_id": account["id"],
        "target_type": account["type"],
        "permissions": APP_PERMISSIONS,
        "events": APP_EVENTS,
        "created_at": installation["created_at"],
        "updated_at": installation["updated_at"],
        "single_file_name": None,
        "has_multiple_single_files": False,
        "single_file_paths": [],
        "suspended_by": user_json(base, suspended_by) if suspended_by else None,
        "suspended_at": installation["suspended_at"],
    }


def installation_ref_json(installation_id: int) -> dict[str, Any]:
    """The `installation` GitHub adds to every App delivery of a repository event."""
    return {"id": installation_id, "node_id": node_id("Installation", installation_id)}


def webhook_repo_item_json(repo: dict[str, Any]) -> dict[str, Any]:
    """A repository in the lists of `installation` and `installation_repositories` events."""
    return {
        "id": repo["id"],
        "node_id": node_id("Repository", repo["id"]),
        "name": repo["name"],
        "full_name": repo["full_name"],
        "private": repo["private"],
    }


# -- repositories -------------------------------------------------------------------------


def repo_json(base: str, repo: dict[str, Any], owner: dict[str, Any]) -> dict[str, Any]:
    """The full repository (`GET /repos/{o}/{r}`); PRs and payloads embed the same."""
    full = repo["full_name"]
    api = f"{base}/repos/{full}"
    return {
        "id": repo["id"],
        "node_id": node_id("Repository", repo["id"]),
        "name": repo["name"],
        "full_name": full,
        "private": repo["private"],
        "owner": user_json(base, owner),
        "html_url": f"{base}/{full}",
        "description": repo.get("description"),
        "fork": False,
        "url": api,
        "archive_url": f"{api}/{{archive_format}}{{/ref}}",
        "assignees_url": f"{api}/assignees{{/user}}",
        "blobs_url": f"{api}/git/blobs{{/sha}}",
        "branches_url": f"{api}/branches{{/branch}}",
        "collaborators_url": f"{api}/collaborators{{/collaborator}}",
        "comments_url": f"{api}/comments{{/number}}",
        "commits_url": f"{api}/commits{{/sha}}",
        "compare_url": f"{api}/compare/{{base}}...{{head}}",
        "contents_url": f"{api}/contents/{{+path}}",
        "contributors_url": f"{api}/contributors",
        "deployments_url": f"{api}/deployments",
        "downloads_url": f"{api}/downloads",
        "events_url": f"{api}/events",
        "forks_url": f"{api}/forks",
        "git_commits_url": f"{api}/git/commits{{/sha}}",
        "git_refs_url": f"{api}/git/refs{{/sha}}",
        "git_tags_url": f"{api}/git/tags{{/sha}}",
        "git_url": f"{base.replace('http', 'git', 1)}/{full}.git",
        "issue_comment_url": f"{api}/issues/comments{{/number}}",
        "issue_events_url": f"{api}/issues/events{{/number}}",
        "issues_url": f"{api}/issues{{/number}}",
        "keys_url": f"{api}/keys{{/key_id}}",
        "labels_url": f"{api}/labels{{/name}}",
        "languages_url": f"{api}/languages",
        "merges_url": f"{api}/merges",
        "milestones_url": f"{api}/milestones{{/number}}",
        "notifications_url": f"{api}/notifications{{?since,all,participating}}",
        "pulls_url": f"{api}/pulls{{/number}}",
        "releases_url": f"{api}/releases{{/id}}",
        "ssh_url": f"git@{base.split('://', 1)[-1]}:{full}.git",
        "stargazers_url": f"{api}/stargazers",
        "statuses_url": f"{api}/statuses/{{sha}}",
        "subscribers_url": f"{api}/subscribers",
        "subscription_url": f"{api}/subscription",
        "tags_url": f"{api}/tags",
        "teams_url": f"{api}/teams",
        "trees_url": f"{api}/git/trees{{/sha}}",
        "clone_url": f"{base}/{full}.git",
        "mirror_url": None,
        "hooks_url": f"{api}/hooks",
        "svn_url": f"{base}/{full}",
        "homepage": None,
        "language": None,
        "forks_count": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "size": 0,
        "default_branch": repo["default_branch"],
        "open_issues_count": repo.get("open_pulls", 0),
        "is_template": False,
        "topics": [],
        "has_issues": True,
        "has_pull_requests": True,
        "has_projects": True,
        "has_wiki": False,
        "has_pages": False,
        "has_downloads": True,
        "has_discussions": False,
        "archived": False,
        "disabled": False,
        "visibility": "private" if repo["private"] else "public",
        "pushed_at": repo["pushed_at"],
        "created_at": repo["created_at"],
        "updated_at": repo["pushed_at"],
        "permissions": {
            "admin": True,
            "maintain": True,
            "push": True,
            "triage": True,
            "pull": True,
        },
        "allow_rebase_merge": False,
        "allow_squash_merge": True,
        "allow_merge_commit": True,
        "allow_auto_merge": False,
        "allow_update_branch": False,
        "delete_branch_on_merge": False,
        "use_squash_pr_title_as_default": False,
        "squash_merge_commit_title": "COMMIT_OR_PR_TITLE",
        "squash_merge_commit_message": "COMMIT_MESSAGES",
        "merge_commit_title": "MERGE_MESSAGE",
        "merge_commit_message": "PR_TITLE",
        "allow_forking": False,
        "web_commit_signoff_required": False,
        "custom_properties": {},
        "subscribers_count": 1,
        "network_count": 0,
        "license": None,
        "forks": 0,
        "open_issues": repo.get("open_pulls", 0),
        "watchers": 0,
    }


# The repository as embedded in workflow runs: GitHub's "minimal repository" fields.
MINIMAL_REPO_KEYS = [
    "id",
    "node_id",
    "name",
    "full_name",
    "private",
    "owner",
    "html_url",
    "description",
    "fork",
    "url",
    "archive_url",
    "assignees_url",
    "blobs_url",
    "branches_url",
    "collaborators_url",
    "comments_url",
    "commits_url",
    "compare_url",
    "contents_url",
    "contributors_url",
    "deployments_url",
    "downloads_url",
    "events_url",
    "forks_url",
    "git_commits_url",
    "git_refs_url",
    "git_tags_url",
    "hooks_url",
    "issue_comment_url",
    "issue_events_url",
    "issues_url",
    "keys_url",
    "labels_url",
    "languages_url",
    "merges_url",
    "milestones_url",
    "notifications_url",
    "pulls_url",
    "releases_url",
    "stargazers_url",
    "statuses_url",
    "subscribers_url",
    "subscription_url",
    "tags_url",
    "teams_url",
    "trees_url",
]


def minimal_repo_json(full_repo: dict[str, Any]) -> dict[str, Any]:
    return {key: full_repo[key] for key in MINIMAL_REPO_KEYS}


# -- git objects ----------------------------------------------------------------------------


def _signature(signature: Signature) -> dict[str, str]:
    return {
        "name": signature.name,
        "email": signature.email,
        "date": signature.date.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


UNSIGNED = {
    "verified": False,
    "reason": "unsigned",
    "signature": None,
    "payload": None,
    "verified_at": None,
}


def git_commit_json(base: str, full: str, commit: CommitInfo) -> dict[str, Any]:
    api = f"{base}/repos/{full}"
    return {
        "sha": commit.sha,
        "node_id": node_id("Commit", commit.sha),
        "url": f"{api}/git/commits/{commit.sha}",
        "html_url": f"{base}/{full}/commit/{commit.sha}",
        "author": _signature(commit.author),
        "committer": _signature(commit.committer),
        "message": commit.message.rstrip("\n"),
        "tree": {"sha": commit.tree, "url": f"{api}/git/trees/{commit.tree}"},
        "parents": [
            {
                "sha": parent,
                "url": f"{api}/git/commits/{parent}",
                "html_url": f"{base}/{full}/commit/{parent}",
            }
            for parent in commit.parents
        ],
        "verification": UNSIGNED,
    }


def rest_commit_json(base: str, full: str, commit: CommitInfo) -> dict[str, Any]:
    """The `commit` resource of `GET /repos/{o}/{r}/commits/{ref}` (and branches)."""
    api = f"{base}/repos/{full}"
    git = git_commit_json(base, full, commit)
    return {
        "url": f"{api}/commits/{commit.sha}",
        "sha": commit.sha,
        "node_id": git["node_id"],
        "html_url": git["html_url"],
        "comments_url": f"{api}/commits/{commit.sha}/comments",
        "commit": {
            "url": git["url"],
            "author": git["author"],
            "committer": git["committer"],
            "message": git["message"],
            "comment_count": 0,
            "tree": git["tree"],
            "verification": UNSIGNED,
        },
        "author": None,
        "committer": None,
        "parents": [
            {
                "sha": parent["sha"],
                "url": f"{api}/commits/{parent['sha']}",
                "html_url": parent["html_url"],
            }
            for parent in git["parents"]
        ],
    }


def head_commit_json(commit: CommitInfo) -> dict[str, Any]:
    """The `head_commit` of a workflow run."""
    return {
        "id": commit.sha,
        "tree_id": commit.tree,
        "message": commit.message.rstrip("\n"),
        "timestamp": commit.committer.date.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "author": {"name": commit.author.name, "email": commit.author.email},
        "committer": {"name": commit.committer.name, "email": commit.committer.email},
    }


def ref_json(base: str, full: str, ref: str, sha: str) -> dict[str, Any]:
    api = f"{base}/repos/{full}"
    return {
        "ref": ref,
        "node_id": node_id("Ref", f"{full}:{ref}"),
        "url": f"{api}/git/{ref}",
        "object": {"sha": sha, "type": "commit", "url": f"{api}/git/commits/{sha}"},
    }


def tree_json(base: str, full: str, sha: str, entries: list[TreeEntry]) -> dict[str, Any]:
    api = f"{base}/repos/{full}"
    kinds = {"blob": "blobs", "tree": "trees"}
    items = []
    for entry in entries:
        item: dict[str, Any] = {
            "path": entry.path,
            "mode": entry.mode,
            "type": entry.type,
            "sha": entry.sha,
        }
        if entry.type == "blob":
            item["size"] = entry.size
        if entry.type in kinds:
            item["url"] = f"{api}/git/{kinds[entry.type]}/{entry.sha}"
        items.append(item)
    return {"sha": sha, "url": f"{api}/git/trees/{sha}", "tree": items, "truncated": False}


def blob_json(base: str, full: str, sha: str, data: bytes) -> dict[str, Any]:
    return {
        "sha": sha,
        "node_id": node_id("Blob", sha),
        "size": len(data),
        "url": f"{base}/repos/{full}/git/blobs/{sha}",
        "content": wrapped_base64(data),
        "encoding": "base64",
    }


_CONTENT_TYPES = {"blob": "file", "tree": "dir", "commit": "submodule"}


def content_entry_json(base: str, full: str, ref: str, entry: TreeEntry) -> dict[str, Any]:
    """A contents-API item (a directory listing entry, or a file without its content)."""
    api = f"{base}/repos/{full}"
    path = quote(entry.path)
    kind = "symlink" if entry.mode == "120000" else _CONTENT_TYPES[entry.type]
    git_kind = "trees" if entry.type == "tree" else "blobs"
    self_url = f"{api}/contents/{path}?ref={quote(ref)}"
    git_url = f"{api}/git/{git_kind}/{entry.sha}"
    html_url = f"{base}/{full}/{'tree' if kind == 'dir' else 'blob'}/{quote(ref)}/{path}"
    return {
        "type": kind,
        "size": entry.size or 0,
        "name": entry.path.rsplit("/", 1)[-1],
        "path": entry.path,
        "sha": entry.sha,
        "url": self_url,
        "git_url": git_url,
        "html_url": html_url,
        "download_url": f"{base}/{full}/raw/{quote(ref)}/{path}" if kind == "file" else None,
        "_links": {"self": self_url, "git": git_url, "html": html_url},
    }


def content_file_json(
    base: str, full: str, ref: str, entry: TreeEntry, data: bytes
) -> dict[str, Any]:
    return {
        **content_entry_json(base, full, ref, entry),
        "encoding": "base64",
        "content": wrapped_base64(data),
    }
