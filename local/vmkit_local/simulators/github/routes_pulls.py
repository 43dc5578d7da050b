"""Pull requests: open, list, read, edit, and merge into a real merge commit.

Opening, closing and merging send the `pull_request` webhook (`opened`, `closed` with
`merged` true or false, `reopened`), as the App's subscription to that event gets on
GitHub. Merge and squash are allowed; rebase is not (the repository says so).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response

from ..clock import iso_seconds, utc_now
from ..endpoint import Call, JsonApi
from .bodies import object_body, optional_bool, optional_str
from .errors import GitHubError, invalid_request, not_found, validation_failed
from .gitstore import GitRepo, RefConflict, Signature
from .paging import page_of
from .payloads import pull_json, simple_pull_json
from .shapes import for_rest

if TYPE_CHECKING:
    from .simulator import GitHubSimulator

WEB_FLOW = Signature("GitHub", "noreply@github.com", utc_now())


def register(api: JsonApi, sim: GitHubSimulator) -> None:
    def render(call: Call, repo: dict[str, Any], pull: dict[str, Any]) -> dict[str, Any]:
        base = call.base_url
        merged_by = sim.user_json(base, pull["merged_by"]) if pull["merged_by"] else None
        return pull_json(
            base,
            pull,
            sim.repo_json(base, repo),
            sim.user_json(base, pull["user"]),
            merged_by,
            _live(sim.git(repo), pull),
        )

    def notify(call: Call, repo: dict[str, Any], pull: dict[str, Any], action: str) -> None:
        payload = {
            "action": action,
            "number": pull["number"],
            "pull_request": render(call, repo, pull),
        }
        sender = sim.actor(call)["login"]
        sim.send_webhook("pull_request", payload, repo=repo, base=call.base_url, sender=sender)

    def find(call: Call, repo: dict[str, Any]) -> dict[str, Any]:
        pull = sim.state.pull(repo, call.path_params["number"])
        if pull is None:
            raise not_found()
        return pull

    @api.route("/repos/{owner}/{repo}/pulls", ["POST"])
    def create_pull(call: Call) -> Response:
        body = object_body(call)
        for field in ("title", "head", "base"):
            if not body.get(field):
                raise validation_failed("PullRequest", field, "missing_field")
        title = optional_str(body, "title") or ""
        head = optional_str(body, "head") or ""
        base_ref = optional_str(body, "base") or ""
        draft = optional_bool(body, "draft")
        with sim.state.lock:
            repo = sim.repo_for(call)
            git = sim.git(repo)
            head_owner, _, head_ref = head.rpartition(":")
            if head_owner and head_owner.lower() != repo["owner"].lower():
                raise validation_failed("PullRequest", "head", "invalid")
            head_sha = _tip(git, head_ref)
            base_sha = _tip(git, base_ref)
            if head_sha is None:
                raise validation_failed("PullRequest", "head", "invalid")
            if base_sha is None:
                raise validation_failed("PullRequest", "base", "invalid")
            if git.count_commits(base_sha, head_sha) == 0:
                raise validation_failed(
                    "PullRequest", None, "custom", f"No commits between {base_ref} and {head_ref}"
                )
            for other in sim.state.pulls_of(repo):
                if other["state"] == "open" and (other["head_ref"], other["base_ref"]) == (
                    head_ref,
                    base_ref,
                ):
                    raise validation_failed(
                        "PullRequest",
                        None,
                        "custom",
                        f"A pull request already exists for {repo['owner']}:{head_ref}.",
                    )
            now = iso_seconds(utc_now())
            pull = {
                "id": sim.state.new_id(),
                "number": repo["next_number"],
                "title": title,
                "body": optional_str(body, "body"),
                "state": "open",
                "draft": draft,
                "user": sim.actor(call)["login"],
                "head_ref": head_ref,
                "base_ref": base_ref,
                "head_sha": head_sha,
                "base_sha": base_sha,
                "created_at": now,
                "updated_at": now,
                "closed_at": None,
                "merged_at": None,
                "merged_by": None,
                "merge_commit_sha": None,
                "stats": None,
            }
            repo["next_number"] += 1
            sim.state.add_pull(repo, pull)
            sim.state.save()
            notify(call, repo, pull, "opened")
            return JSONResponse(for_rest(call, render(call, repo, pull)), status_code=201)

    @api.route("/repos/{owner}/{repo}/pulls", ["GET"])
    def list_pulls(call: Call) -> Response:
        state = call.query.get("state", "open")
        if state not in ("open", "closed", "all"):
            raise validation_failed("PullRequest", "state", "invalid")
        with sim.state.lock:
            repo = sim.repo_for(call)
            pulls = [p for p in sim.state.pulls_of(repo) if state in ("all", p["state"])]
            if head := call.query.get("head"):
                owner, _, ref = head.rpartition(":")
                if owner.lower() not in ("", repo["owner"].lower()):
                    pulls = []
                pulls = [p for p in pulls if p["head_ref"] == ref]
            if base := call.query.get("base"):
                pulls = [p for p in pulls if p["base_ref"] == base]
            sort = call.query.get("sort", "created")
            key = (
                "updated_at" if sort in ("updated", "popularity", "long-running") else "created_at"
            )
            default_direction = "desc" if sort == "created" else "asc"
            descending = call.query.get("direction", default_direction) == "desc"
            pulls.sort(key=lambda p: (p[key], p["number"]), reverse=descending)
            window, headers = page_of(call, pulls)
            pulls_out = [simple_pull_json(render(call, repo, pull)) for pull in window]
            return JSONResponse(for_rest(call, pulls_out), headers=headers)

    @api.route("/repos/{owner}/{repo}/pulls/{number:int}", ["GET"])
    def get_pull(call: Call) -> Response:
        with sim.state.lock:
            repo = sim.repo_for(call)
            return JSONResponse(for_rest(call, render(call, repo, find(call, repo))))

    @api.route("/repos/{owner}/{repo}/pulls/{number:int}", ["PATCH"])
    def update_pull(call: Call) -> Response:
        body = object_body(call)
        with sim.state.lock:
            repo = sim.repo_for(call)
            pull = find(call, repo)
            for field in ("title", "body"):
                if field in body:
                    pull[field] = optional_str(body, field)
            if "base" in body:
                base_ref = optional_str(body, "base") or ""
                if _tip(sim.git(repo), base_ref) is None:
                    raise validation_failed("PullRequest", "base", "invalid")
                pull["base_ref"] = base_ref
            action = None
            if "state" in body:
                wanted = body["state"]
                if wanted not in ("open", "closed"):
                    raise validation_failed("PullRequest", "state", "invalid")
                if wanted != pull["state"]:
                    if pull["merged_at"]:
                        raise validation_failed(
                            "PullRequest", None, "custom", "Cannot reopen a merged pull request"
                        )
                    pull["state"] = wanted
                    pull["closed_at"] = iso_seconds(utc_now()) if wanted == "closed" else None
                    action = "closed" if wanted == "closed" else "reopened"
            pull["updated_at"] = iso_seconds(utc_now())
            sim.state.save()
            if action:
                notify(call, repo, pull, action)
            return JSONResponse(for_rest(call, render(call, repo, pull)))

    @api.route("/repos/{owner}/{repo}/pulls/{number:int}/merge", ["GET"])
    def is_merged(call: Call) -> Response:
        with sim.state.lock:
            repo = sim.repo_for(call)
            if find(call, repo)["merged_at"] is None:
                raise not_found()
        return Response(status_code=204)

    @api.route("/repos/{owner}/{repo}/pulls/{number:int}/merge", ["PUT"])
    def merge_pull(call: Call) -> Response:
        body = object_body(call)
        method = optional_str(body, "merge_method") or "merge"
        if method not in ("merge", "squash", "rebase"):
            raise invalid_request(
                f"For 'properties/merge_method', \"{method}\" is not a valid method."
            )
        if method == "rebase":
            raise GitHubError(405, "Rebase merges are not allowed on this repository.")
        expected = optional_str(body, "sha")
        with sim.state.lock:
            repo = sim.repo_for(call)
            pull = find(call, repo)
            git = sim.git(repo)
            live = _live(git, pull)
            if pull["state"] != "open" or not live["mergeable"]:
                raise GitHubError(405, "Pull Request is not mergeable")
            if expected and expected != live["head_sha"]:
                raise GitHubError(409, "Head branch was modified. Review and try the merge again.")
            user = sim.actor(call)
            author = Signature(
                user.get("name") or user["login"],
                user.get("email") or f"{user['id']}+{user['login']}@users.noreply.github.com",
                utc_now(),
            )
            base_sha, head_sha = live["base_sha"], live["head_sha"]
            tree = git.merge_trees(base_sha, head_sha)
            if method == "merge":
                title = optional_str(body, "commit_title") or (
                    f"Merge pull request #{pull['number']} from {repo['owner']}/{pull['head_ref']}"
                )
                parents = [base_sha, head_sha]
            else:
                title = optional_str(body, "commit_title") or f"{pull['title']} (#{pull['number']})"
                parents = [base_sha]
            message = f"{title}\n\n{optional_str(body, 'commit_message') or pull['title']}\n"
            committer = Signature(WEB_FLOW.name, WEB_FLOW.email, utc_now())
            merge_sha = git.commit_tree(tree, parents, message, author, committer)
            try:
                git.update_ref(f"refs/heads/{pull['base_ref']}", merge_sha, base_sha)
            except RefConflict:
                raise GitHubError(
                    409, "Base branch was modified. Review and try the merge again."
                ) from None
            now = iso_seconds(utc_now())
            pull.update(
                state="closed",
                merged_at=now,
                closed_at=now,
                updated_at=now,
                merged_by=user["login"],
                merge_commit_sha=merge_sha,
                head_sha=head_sha,
                base_sha=base_sha,
                stats={
                    key: live[key] for key in ("commits", "additions", "deletions", "changed_files")
                },
            )
            repo["pushed_at"] = now
            sim.state.save()
            notify(call, repo, pull, "closed")
        return JSONResponse(
            {"sha": merge_sha, "merged": True, "message": "Pull Request successfully merged"}
        )


def _tip(git: GitRepo, branch: str) -> str | None:
    return git.refs(f"refs/heads/{branch}").get(f"refs/heads/{branch}") if branch else None


def _live(git: GitRepo, pull: dict[str, Any]) -> dict[str, Any]:
    """Shas, diff stats and mergeability: current for open PRs, frozen once closed."""
    if pull["state"] != "open":
        stats = pull["stats"] or {"commits": 0, "additions": 0, "deletions": 0, "changed_files": 0}
        return {
            "head_sha": pull["head_sha"],
            "base_sha": pull["base_sha"],
            "mergeable": None,
            "mergeable_state": "unknown",
            **stats,
        }
    head = _tip(git, pull["head_ref"]) or pull["head_sha"]
    base = _tip(git, pull["base_ref"]) or pull["base_sha"]
    fork_point = git.merge_base(base, head) or base
    additions, deletions, changed = git.diff_numstat(fork_point, head)
    mergeable = git.merge_trees(base, head) is not None
    state = "draft" if pull["draft"] else "clean" if mergeable else "dirty"
    return {
        "head_sha": head,
        "base_sha": base,
        "mergeable": mergeable,
        "mergeable_state": state,
        "commits": git.count_commits(base, head),
        "additions": additions,
        "deletions": deletions,
        "changed_files": changed,
    }
