"""Shapes of pull requests, workflows, runs and jobs, shared by the REST API and webhooks.

GitHub uses one object for `GET /pulls/{n}` and the `pull_request` webhook, and one for
`GET /actions/runs/{id}` and the `workflow_run` webhook; so do we.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote

from .shapes import minimal_repo_json, node_id

# The list endpoint leaves out what needs a merge computation (GitHub's "simple" PR).
PULL_DETAIL_KEYS = frozenset(
    [
        "merged",
        "mergeable",
        "rebaseable",
        "mergeable_state",
        "merged_by",
        "comments",
        "review_comments",
        "maintainer_can_modify",
        "commits",
        "additions",
        "deletions",
        "changed_files",
    ]
)


def pull_json(
    base: str,
    pull: dict[str, Any],
    repo: dict[str, Any],
    author: dict[str, Any],
    merged_by: dict[str, Any] | None,
    live: dict[str, Any],
) -> dict[str, Any]:
    """`repo` and the users are already rendered; `live` has shas, stats, mergeability."""
    full = repo["full_name"]
    api = f"{base}/repos/{full}"
    number = pull["number"]

    def side(ref: str, sha: str) -> dict[str, Any]:
        return {
            "label": f"{repo['owner']['login']}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": repo["owner"],
            "repo": repo,
        }

    return {
        "url": f"{api}/pulls/{number}",
        "id": pull["id"],
        "node_id": node_id("PullRequest", pull["id"]),
        "html_url": f"{base}/{full}/pull/{number}",
        "diff_url": f"{base}/{full}/pull/{number}.diff",
        "patch_url": f"{base}/{full}/pull/{number}.patch",
        "issue_url": f"{api}/issues/{number}",
        "commits_url": f"{api}/pulls/{number}/commits",
        "review_comments_url": f"{api}/pulls/{number}/comments",
        "review_comment_url": f"{api}/pulls/comments{{/number}}",
        "comments_url": f"{api}/issues/{number}/comments",
        "statuses_url": f"{api}/statuses/{live['head_sha']}",
        "number": number,
        "state": pull["state"],
        "locked": False,
        "title": pull["title"],
        "user": author,
        "body": pull["body"],
        "labels": [],
        "milestone": None,
        "active_lock_reason": None,
        "created_at": pull["created_at"],
        "updated_at": pull["updated_at"],
        "closed_at": pull["closed_at"],
        "merged_at": pull["merged_at"],
        "merge_commit_sha": pull["merge_commit_sha"],
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "head": side(pull["head_ref"], live["head_sha"]),
        "base": side(pull["base_ref"], live["base_sha"]),
        "_links": {
            "self": {"href": f"{api}/pulls/{number}"},
            "html": {"href": f"{base}/{full}/pull/{number}"},
            "issue": {"href": f"{api}/issues/{number}"},
            "comments": {"href": f"{api}/issues/{number}/comments"},
            "review_comments": {"href": f"{api}/pulls/{number}/comments"},
            "review_comment": {"href": f"{api}/pulls/comments{{/number}}"},
            "commits": {"href": f"{api}/pulls/{number}/commits"},
            "statuses": {"href": f"{api}/statuses/{live['head_sha']}"},
        },
        "author_association": "OWNER" if author["login"] == repo["owner"]["login"] else "NONE",
        "auto_merge": None,
        "draft": pull["draft"],
        "merged": pull["merged_at"] is not None,
        "mergeable": live["mergeable"],
        "rebaseable": live["mergeable"],
        "mergeable_state": live["mergeable_state"],
        "merged_by": merged_by,
        "comments": 0,
        "review_comments": 0,
        "maintainer_can_modify": False,
        "commits": live["commits"],
        "additions": live["additions"],
        "deletions": live["deletions"],
        "changed_files": live["changed_files"],
    }


def simple_pull_json(full_pull: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in full_pull.items() if key not in PULL_DETAIL_KEYS}


def workflow_id(repo_id: int, path: str) -> int:
    """A stable id per workflow file (GitHub's are opaque integers)."""
    return int(hashlib.sha256(f"{repo_id}:{path}".encode()).hexdigest()[:8], 16)


def workflow_json(
    base: str, repo: dict[str, Any], path: str, name: str, created_at: str
) -> dict[str, Any]:
    full = repo["full_name"]
    ident = workflow_id(repo["id"], path)
    return {
        "id": ident,
        "node_id": node_id("Workflow", ident),
        "name": name,
        "path": path,
        "state": "active",
        "created_at": created_at,
        "updated_at": created_at,
        "url": f"{base}/repos/{full}/actions/workflows/{ident}",
        "html_url": f"{base}/{full}/blob/{repo['default_branch']}/{path}",
        "badge_url": f"{base}/{full}/workflows/{quote(name)}/badge.svg",
    }


def workflow_run_json(
    base: str,
    run: dict[str, Any],
    repo: dict[str, Any],
    actor: dict[str, Any],
    head_commit: dict[str, Any],
) -> dict[str, Any]:
    """`repo` and `actor` already rendered; `head_commit` from `head_commit_json`."""
    full = repo["full_name"]
    api = f"{base}/repos/{full}/actions/runs/{run['id']}"
    wf_id = workflow_id(repo["id"], run["workflow_path"])
    minimal = minimal_repo_json(repo)
    return {
        "id": run["id"],
        "name": run["name"],
        "node_id": node_id("WorkflowRun", run["id"]),
        "check_suite_id": run["check_suite_id"],
        "check_suite_node_id": node_id("CheckSuite", run["check_suite_id"]),
        "head_branch": run["head_branch"],
        "head_sha": run["head_sha"],
        "path": run["workflow_path"],
        "display_title": run["name"],
        "run_number": run["run_number"],
        "event": run["event"],
        "status": run["status"],
        "conclusion": run["conclusion"],
        "workflow_id": wf_id,
        "url": api,
        "html_url": html_run_url(base, full, run["id"]),
        "pull_requests": [],
        "created_at": run["created_at"],
        "updated_at": run["updated_at"],
        "actor": actor,
        "triggering_actor": actor,
        "run_attempt": 1,
        "referenced_workflows": [],
        "run_started_at": run["run_started_at"] or run["created_at"],
        "jobs_url": f"{api}/jobs",
        "logs_url": f"{api}/logs",
        "check_suite_url": f"{base}/repos/{full}/check-suites/{run['check_suite_id']}",
        "artifacts_url": f"{api}/artifacts",
        "cancel_url": f"{api}/cancel",
        "rerun_url": f"{api}/rerun",
        "previous_attempt_url": None,
        "workflow_url": f"{base}/repos/{full}/actions/workflows/{wf_id}",
        "head_commit": head_commit,
        "repository": minimal,
        "head_repository": minimal,
    }


def html_run_url(base: str, full: str, run_id: int) -> str:
    return f"{base}/{full}/actions/runs/{run_id}"


def job_json(base: str, run: dict[str, Any], full: str) -> dict[str, Any]:
    job = run["job"]
    api = f"{base}/repos/{full}/actions"
    return {
        "id": job["id"],
        "run_id": run["id"],
        "run_url": f"{api}/runs/{run['id']}",
        "run_attempt": 1,
        "node_id": node_id("CheckRun", job["id"]),
        "head_sha": run["head_sha"],
        "url": f"{api}/jobs/{job['id']}",
        "html_url": f"{html_run_url(base, full, run['id'])}/job/{job['id']}",
        "status": job["status"],
        "conclusion": job["conclusion"],
        "created_at": run["created_at"],
        "started_at": job["started_at"] or run["created_at"],
        "completed_at": job["completed_at"],
        "name": job["name"],
        "steps": [
            {
                "name": "Run the workflow in the local sandbox",
                "status": job["status"],
                "conclusion": job["conclusion"],
                "number": 1,
                "started_at": job["started_at"],
                "completed_at": job["completed_at"],
            }
        ]
        if job["started_at"]
        else [],
        "check_run_url": f"{base}/repos/{full}/check-runs/{job['id']}",
        "labels": ["ubuntu-latest"],
        "runner_id": 1 if job["started_at"] else None,
        "runner_name": "vmkit-local-sandbox" if job["started_at"] else None,
        "runner_group_id": 1 if job["started_at"] else None,
        "runner_group_name": "Default" if job["started_at"] else None,
        "workflow_name": run["workflow_name"],
        "head_branch": run["head_branch"],
    }
