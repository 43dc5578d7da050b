"""Repositories, contents, branches, commits and the git data API (refs, trees, blobs)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response

from ..clock import iso_seconds, utc_now
from ..endpoint import Call, JsonApi
from .bodies import (
    decoded_base64,
    object_body,
    optional_bool,
    optional_str,
    required_str,
    signature,
)
from .errors import GitHubError, invalid_request, not_found, unprocessable
from .gitstore import ZERO_SHA, Change, GitRepo, RefConflict, Signature, TreeEntry, valid_ref_name
from .paging import page_of
from .shapes import (
    blob_json,
    content_entry_json,
    content_file_json,
    for_rest,
    git_commit_json,
    ref_json,
    rest_commit_json,
    tree_json,
)

if TYPE_CHECKING:
    from .simulator import GitHubSimulator

FILE_MODES = {"100644", "100755", "120000"}
TREE_MODES = FILE_MODES | {"040000", "160000"}


def register(api: JsonApi, sim: GitHubSimulator) -> None:
    def author_of(call: Call) -> Signature:
        user = sim.actor(call)
        email = user.get("email") or f"{user['id']}+{user['login']}@users.noreply.github.com"
        return Signature(user.get("name") or user["login"], email, utc_now())

    def pushed(repo: dict[str, Any]) -> None:
        repo["pushed_at"] = iso_seconds(utc_now())
        sim.state.save()

    @api.route("/repos/{owner}/{repo}", ["GET"])
    def get_repo(call: Call) -> Response:
        with sim.state.lock:
            return JSONResponse(for_rest(call, sim.repo_json(call.base_url, sim.repo_for(call))))

    # -- contents ---------------------------------------------------------------------

    @api.route("/repos/{owner}/{repo}/contents", ["GET"])
    @api.route("/repos/{owner}/{repo}/contents/{path:path}", ["GET"])
    def get_content(call: Call) -> Response:
        with sim.state.lock:
            repo = sim.repo_for(call)
            git = sim.git(repo)
            ref = call.query.get("ref") or repo["default_branch"]
            commit = git.resolve(ref)
            if commit is None:
                raise GitHubError(404, f"No commit found for the ref {ref}")
            path = call.path_params.get("path", "").strip("/")
            entry = git.entry(commit, path)
            if entry is None:
                raise not_found()
            full, base = repo["full_name"], call.base_url
            if entry.type == "tree":
                listing = git.ls_tree(f"{commit}:{path}" if path else commit)
                return JSONResponse(
                    [content_entry_json(base, full, ref, _under(path, item)) for item in listing]
                )
            data = git.read_blob(entry.sha)
            if "raw" in call.headers.get("accept", ""):
                return Response(data, media_type="application/vnd.github.raw")
            return JSONResponse(content_file_json(base, full, ref, entry, data))

    @api.route("/repos/{owner}/{repo}/contents/{path:path}", ["PUT"])
    def put_content(call: Call) -> Response:
        body = object_body(call)
        message = required_str(body, "message")
        data = decoded_base64(required_str(body, "content"))
        expected_sha = optional_str(body, "sha")
        path = call.path_params["path"].strip("/")
        with sim.state.lock:
            repo = sim.repo_for(call)
            git = sim.git(repo)
            branch = optional_str(body, "branch") or repo["default_branch"]
            tip = git.resolve(f"refs/heads/{branch}")
            if tip is None:
                raise GitHubError(404, f"Branch {branch} not found")
            existing = git.entry(tip, path)
            if existing is not None and existing.type == "tree":
                raise unprocessable(f"{path} is a directory")
            if existing is not None and expected_sha is None:
                raise invalid_request('"sha" wasn\'t supplied.')
            if existing is not None and expected_sha != existing.sha:
                raise GitHubError(409, f"{path} does not match {expected_sha}")
            author = signature(body, "author", author_of(call))
            committer = signature(body, "committer", author)
            mode = existing.mode if existing else "100644"
            tree = git.build_tree(
                git.read_commit(tip).tree, [Change(path, mode, git.write_blob(data))]
            )
            commit = git.commit_tree(tree, [tip], message, author, committer)
            _move(git, f"refs/heads/{branch}", commit, tip)
            pushed(repo)
            entry = git.entry(commit, path)
            out = {
                "content": content_entry_json(call.base_url, repo["full_name"], branch, entry),
                "commit": git_commit_json(
                    call.base_url, repo["full_name"], git.read_commit(commit)
                ),
            }
        return JSONResponse(out, status_code=200 if existing else 201)

    # -- branches and commits ---------------------------------------------------------------

    @api.route("/repos/{owner}/{repo}/branches", ["GET"])
    def list_branches(call: Call) -> Response:
        with sim.state.lock:
            repo = sim.repo_for(call)
            heads = sorted(sim.git(repo).refs("refs/heads/").items())
            window, headers = page_of(call, heads)
            api_base = f"{call.base_url}/repos/{repo['full_name']}"
            branches = [
                {
                    "name": ref.removeprefix("refs/heads/"),
                    "commit": {"sha": sha, "url": f"{api_base}/commits/{sha}"},
                    "protected": False,
                }
                for ref, sha in window
            ]
            return JSONResponse(branches, headers=headers)

    @api.route("/repos/{owner}/{repo}/branches/{branch:path}", ["GET"])
    def get_branch(call: Call) -> Response:
        with sim.state.lock:
            repo = sim.repo_for(call)
            git = sim.git(repo)
            name = call.path_params["branch"]
            sha = git.refs(f"refs/heads/{name}").get(f"refs/heads/{name}")
            if sha is None:
                raise GitHubError(404, "Branch not found")
            full, base = repo["full_name"], call.base_url
            api_url = f"{base}/repos/{full}/branches/{name}"
            return JSONResponse(
                {
                    "name": name,
                    "commit": rest_commit_json(base, full, git.read_commit(sha)),
                    "_links": {"self": api_url, "html": f"{base}/{full}/tree/{name}"},
                    "protected": False,
                    "protection": {
                        "enabled": False,
                        "required_status_checks": {
                            "enforcement_level": "off",
                            "contexts": [],
                            "checks": [],
                        },
                    },
                    "protection_url": f"{api_url}/protection",
                }
            )

    @api.route("/repos/{owner}/{repo}/commits/{ref:path}", ["GET"])
    def get_commit(call: Call) -> Response:
        with sim.state.lock:
            repo = sim.repo_for(call)
            git = sim.git(repo)
            ref = call.path_params["ref"]
            sha = git.resolve(ref)
            if sha is None:
                raise unprocessable(f"No commit found for SHA: {ref}")
            info = git.read_commit(sha)
            body = rest_commit_json(call.base_url, repo["full_name"], info)
            parent = info.parents[0] if info.parents else None
            additions, deletions, _ = git.diff_numstat(parent, sha) if parent else (0, 0, 0)
            body["stats"] = {
                "total": additions + deletions,
                "additions": additions,
                "deletions": deletions,
            }
            return JSONResponse(body)

    # -- git data: refs ---------------------------------------------------------------------

    @api.route("/repos/{owner}/{repo}/git/ref/{ref:path}", ["GET"])
    def get_ref(call: Call) -> Response:
        with sim.state.lock:
            repo = sim.repo_for(call)
            name = f"refs/{call.path_params['ref']}"
            sha = sim.git(repo).refs(name).get(name)
            if sha is None:
                raise not_found()
            return JSONResponse(ref_json(call.base_url, repo["full_name"], name, sha))

    @api.route("/repos/{owner}/{repo}/git/matching-refs/{ref:path}", ["GET"])
    def matching_refs(call: Call) -> Response:
        with sim.state.lock:
            repo = sim.repo_for(call)
            prefix = f"refs/{call.path_params['ref']}"
            refs = sim.git(repo).refs("refs/")
            return JSONResponse(
                [
                    ref_json(call.base_url, repo["full_name"], name, sha)
                    for name, sha in sorted(refs.items())
                    if name.startswith(prefix)
                ]
            )

    @api.route("/repos/{owner}/{repo}/git/refs", ["POST"])
    def create_ref(call: Call) -> Response:
        body = object_body(call)
        name = required_str(body, "ref")
        sha = required_str(body, "sha")
        if not name.startswith("refs/") or name.count("/") < 2 or not valid_ref_name(name):
            raise unprocessable(
                "Reference name must start with 'refs/' and have at least two slashes."
            )
        with sim.state.lock:
            repo = sim.repo_for(call)
            git = sim.git(repo)
            if git.object_type(sha) != "commit":
                raise unprocessable("Object does not exist")
            try:
                git.update_ref(name, sha, ZERO_SHA)
            except RefConflict:
                raise unprocessable("Reference already exists") from None
            pushed(repo)
            out = ref_json(call.base_url, repo["full_name"], name, sha)
        return JSONResponse(out, status_code=201)

    @api.route("/repos/{owner}/{repo}/git/refs/{ref:path}", ["PATCH"])
    def update_ref(call: Call) -> Response:
        body = object_body(call)
        sha = required_str(body, "sha")
        force = optional_bool(body, "force")
        with sim.state.lock:
            repo, git, name, current = _existing_ref(sim, call)
            if git.object_type(sha) != "commit":
                raise unprocessable("Object does not exist")
            if not force and not git.is_ancestor(current, sha):
                raise unprocessable("Update is not a fast forward")
            _move(git, name, sha, current)
            pushed(repo)
            return JSONResponse(ref_json(call.base_url, repo["full_name"], name, sha))

    @api.route("/repos/{owner}/{repo}/git/refs/{ref:path}", ["DELETE"])
    def delete_ref(call: Call) -> Response:
        with sim.state.lock:
            _, git, name, current = _existing_ref(sim, call)
            try:
                git.delete_ref(name, current)
            except RefConflict:
                raise GitHubError(409, "Reference cannot be deleted") from None
        return Response(status_code=204)

    # -- git data: trees, blobs, commits ------------------------------------------------------

    @api.route("/repos/{owner}/{repo}/git/trees/{tree_sha:path}", ["GET"])
    def get_tree(call: Call) -> Response:
        recursive = call.query.get("recursive") not in (None, "", "0", "false")
        with sim.state.lock:
            repo = sim.repo_for(call)
            git = sim.git(repo)
            tree = git.resolve(call.path_params["tree_sha"], "tree")
            if tree is None:
                raise not_found()
            entries = git.ls_tree(tree, recursive=recursive)
            return JSONResponse(tree_json(call.base_url, repo["full_name"], tree, entries))

    @api.route("/repos/{owner}/{repo}/git/trees", ["POST"])
    def create_tree(call: Call) -> Response:
        body = object_body(call)
        items = body.get("tree")
        if items is None:
            raise invalid_request('"tree" wasn\'t supplied.')
        if not isinstance(items, list):
            raise invalid_request("For 'properties/tree', it is not an array.")
        base_tree = optional_str(body, "base_tree")
        with sim.state.lock:
            repo = sim.repo_for(call)
            git = sim.git(repo)
            if base_tree is not None and git.resolve(base_tree, "tree") is None:
                raise unprocessable("base_tree is not a valid tree oid")
            changes = [_tree_change(git, item) for item in items]
            tree = git.build_tree(git.resolve(base_tree, "tree") if base_tree else None, changes)
            out = tree_json(call.base_url, repo["full_name"], tree, git.ls_tree(tree))
        return JSONResponse(out, status_code=201)

    @api.route("/repos/{owner}/{repo}/git/blobs", ["POST"])
    def create_blob(call: Call) -> Response:
        body = object_body(call)
        content = required_str(body, "content")
        encoding = optional_str(body, "encoding") or "utf-8"
        if encoding not in ("utf-8", "base64"):
            raise unprocessable(f"encoding must be utf-8 or base64, not {encoding}")
        data = decoded_base64(content) if encoding == "base64" else content.encode()
        with sim.state.lock:
            repo = sim.repo_for(call)
            sha = sim.git(repo).write_blob(data)
            url = f"{call.base_url}/repos/{repo['full_name']}/git/blobs/{sha}"
        return JSONResponse({"url": url, "sha": sha}, status_code=201)

    @api.route("/repos/{owner}/{repo}/git/blobs/{sha}", ["GET"])
    def get_blob(call: Call) -> Response:
        with sim.state.lock:
            repo, git, sha = _stored_object(sim, call, "blob")
            return JSONResponse(
                blob_json(call.base_url, repo["full_name"], sha, git.read_blob(sha))
            )

    @api.route("/repos/{owner}/{repo}/git/commits", ["POST"])
    def create_commit(call: Call) -> Response:
        body = object_body(call)
        message = required_str(body, "message")
        tree = required_str(body, "tree")
        parents = body.get("parents") or []
        if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
            raise invalid_request("For 'properties/parents', it is not an array of strings.")
        with sim.state.lock:
            repo = sim.repo_for(call)
            git = sim.git(repo)
            if git.object_type(tree) != "tree":
                raise unprocessable("Tree SHA does not exist")
            if any(git.object_type(parent) != "commit" for parent in parents):
                raise unprocessable("Parent SHA does not exist or is not a commit object")
            author = signature(body, "author", author_of(call))
            committer = signature(body, "committer", author)
            sha = git.commit_tree(tree, parents, message, author, committer)
            out = git_commit_json(call.base_url, repo["full_name"], git.read_commit(sha))
        return JSONResponse(out, status_code=201)

    @api.route("/repos/{owner}/{repo}/git/commits/{sha}", ["GET"])
    def get_git_commit(call: Call) -> Response:
        with sim.state.lock:
            repo, git, sha = _stored_object(sim, call, "commit")
            return JSONResponse(
                git_commit_json(call.base_url, repo["full_name"], git.read_commit(sha))
            )


def _existing_ref(sim: GitHubSimulator, call: Call) -> tuple[dict[str, Any], GitRepo, str, str]:
    """The call's repo, its git store, the `{ref}` in the path and the commit it points at."""
    repo = sim.repo_for(call)
    git = sim.git(repo)
    name = f"refs/{call.path_params['ref']}"
    current = git.refs(name).get(name)
    if current is None:
        raise unprocessable("Reference does not exist")
    return repo, git, name, current


def _stored_object(
    sim: GitHubSimulator, call: Call, kind: str
) -> tuple[dict[str, Any], GitRepo, str]:
    """The call's repo, its git store and the `{sha}` in the path, which must be a `kind`."""
    repo = sim.repo_for(call)
    git = sim.git(repo)
    sha = call.path_params["sha"]
    if git.object_type(sha) != kind:
        raise not_found()
    return repo, git, sha


def _under(directory: str, entry: TreeEntry) -> TreeEntry:
    """A listing entry with its path from the repository root."""
    return replace(entry, path=f"{directory}/{entry.path}" if directory else entry.path)


def _move(git: GitRepo, ref: str, new: str, expected: str) -> None:
    try:
        git.update_ref(ref, new, expected)
    except RefConflict:
        raise GitHubError(409, "Reference update failed: it moved while this request ran") from None


def _tree_change(git: GitRepo, item: Any) -> Change:
    if not isinstance(item, dict):
        raise invalid_request("For 'items', it is not an object.")
    path = item.get("path")
    mode = item.get("mode")
    if not isinstance(path, str) or not path.strip("/"):
        raise invalid_request('"path" wasn\'t supplied.')
    if mode not in TREE_MODES:
        raise invalid_request(
            f"For 'properties/mode', {mode!r} is not one of {sorted(TREE_MODES)}."
        )
    path = path.strip("/")
    if "content" in item and item["content"] is not None:
        if not isinstance(item["content"], str) or mode not in FILE_MODES:
            raise invalid_request("content must be a string for a file mode")
        return Change(path, mode, git.write_blob(item["content"].encode()))
    sha = item.get("sha", ...)
    if sha is None:
        return Change(path)  # deletes the path
    if not isinstance(sha, str):
        raise invalid_request('"sha" or "content" must be supplied.')
    wanted = "tree" if mode == "040000" else "commit" if mode == "160000" else "blob"
    if mode != "160000" and git.object_type(sha) != wanted:
        raise unprocessable(f"tree.sha {sha} is not a valid {wanted}")
    return Change(path, mode, sha)
