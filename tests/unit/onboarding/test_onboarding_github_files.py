"""GitHubRepoFiles against an HTTP fake that answers with GitHub's real response shapes
(GET /repos/{owner}/{repo}/git/trees/{ref}?recursive=1 and /git/blobs/{sha})."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import httpx
import pytest
from conftest import APPS

from vmkit.adapters.github_files import GitHubRepoFiles
from vmkit.ai.repo_files import LocalCheckout, RepoFiles
from vmkit.ai.repo_scanner import scan
from vmkit.errors import NotFound, ProviderError

API = "https://api.github.test"


def git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()  # noqa: S324 (git's id)


class FakeGitHub:
    """Serves a directory as a repository at ref `main`, recording every request."""

    def __init__(self, root: Path, *, truncated: bool = False, fail: int | None = None):
        self.files = {
            p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()
        }
        self.by_sha = {git_blob_sha(data): data for data in self.files.values()}
        self.truncated = truncated
        self.fail = fail
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail:
            return httpx.Response(
                self.fail,
                json={
                    "message": "Server Error",
                    "documentation_url": "https://docs.github.com/rest",
                },
            )
        parts = request.url.path.split("/")  # ['', 'repos', owner, repo, 'git', kind, id]
        if parts[5] == "trees" and parts[6] == "main":
            return httpx.Response(200, json=self.tree())
        if parts[5] == "blobs" and parts[6] in self.by_sha:
            return httpx.Response(200, json=self.blob(parts[6]))
        return httpx.Response(
            404,
            json={
                "message": "Not Found",
                "documentation_url": "https://docs.github.com/rest/git/trees#get-a-tree",
                "status": "404",
            },
        )

    def tree(self) -> dict:
        dirs = sorted({str(Path(p).parent) for p in self.files} - {"."})
        items = [
            {
                "path": d,
                "mode": "040000",
                "type": "tree",
                "sha": hashlib.sha1(d.encode()).hexdigest(),  # noqa: S324
                "url": f"{API}/repos/acme/app/git/trees/x",
            }
            for d in dirs
        ]
        for path, data in sorted(self.files.items()):
            sha = git_blob_sha(data)
            items.append(
                {
                    "path": path,
                    "mode": "100644",
                    "type": "blob",
                    "sha": sha,
                    "size": len(data),
                    "url": f"{API}/repos/acme/app/git/blobs/{sha}",
                }
            )
        return {
            "sha": "9fb037999f264ba9a7fc6274d15fa3ae2ab98312",
            "url": f"{API}/repos/acme/app/git/trees/9fb037999f264ba9a7fc6274d15fa3ae2ab98312",
            "tree": items,
            "truncated": self.truncated,
        }

    def blob(self, sha: str) -> dict:
        data = self.by_sha[sha]
        encoded = base64.encodebytes(data).decode()  # GitHub wraps base64 at 60 columns
        return {
            "content": encoded,
            "encoding": "base64",
            "url": f"{API}/repos/acme/app/git/blobs/{sha}",
            "sha": sha,
            "size": len(data),
            "node_id": "B_kwDOA" + sha[:10],
        }


def github_files(fake: FakeGitHub, ref: str = "main", **kwargs) -> GitHubRepoFiles:
    from githubkit import GitHub

    client = GitHub(
        "ghs_test_installation_token",
        base_url=API,
        transport=httpx.MockTransport(fake),
        auto_retry=False,
    )
    return GitHubRepoFiles(client, "acme", "app", ref, **kwargs)


@pytest.mark.parametrize("name", ["python-django", "monorepo", "with-dockerfile", "ruby-rails"])
def test_a_scan_through_the_github_api_matches_the_scan_of_the_checkout(name):
    fake = FakeGitHub(APPS / name)

    remote = scan(github_files(fake))

    assert remote == scan(LocalCheckout(APPS / name))


def test_one_tree_call_then_only_the_files_the_scanner_reads():
    fake = FakeGitHub(APPS / "monorepo")
    files = github_files(fake)

    scan(files)

    paths = [r.url.path for r in fake.requests]
    assert paths[0] == "/repos/acme/app/git/trees/main"
    assert fake.requests[0].url.params["recursive"] == "1"
    assert paths.count("/repos/acme/app/git/trees/main") == 1
    assert all("/git/blobs/" in p for p in paths[1:])
    assert len(paths) == files.api_calls <= 1 + 40
    assert fake.requests[0].headers["authorization"] == "token ghs_test_installation_token"


def test_reads_are_cached_and_bounded():
    fake = FakeGitHub(APPS / "python-django")
    files = github_files(fake, max_reads=2)

    assert files.read_text("manage.py") == files.read_text("manage.py")
    files.read_text("requirements.txt")
    with pytest.raises(ProviderError, match="more than 2 file reads"):
        files.read_text("mysite/settings.py")
    assert files.blob_reads == 2
    assert len(fake.requests) == 3  # the tree and two blobs; the refused read sent nothing


def test_missing_big_and_binary_files_read_as_none(tmp_path):
    (tmp_path / "big.txt").write_text("a" * 5000)
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\x00")
    fake = FakeGitHub(tmp_path)
    files = github_files(fake)

    assert files.read_text("nope.txt") is None
    assert files.read_text("big.txt", max_bytes=1000) is None
    assert files.read_text("logo.png") is None
    assert files.list_paths() == ["big.txt", "logo.png"]
    assert len(fake.requests) == 2  # the tree, then logo.png: nothing for the others


def test_dependency_directories_in_the_tree_are_not_listed(tmp_path):
    (tmp_path / "node_modules" / "x").mkdir(parents=True)
    (tmp_path / "node_modules" / "x" / "package.json").write_text("{}")
    (tmp_path / "package.json").write_text("{}")

    assert github_files(FakeGitHub(tmp_path)).list_paths() == ["package.json"]


def test_a_truncated_tree_is_reported_as_a_scan_warning():
    fake = FakeGitHub(APPS / "node-express", truncated=True)

    result = scan(github_files(fake))

    assert any("truncated" in w for w in result.warnings)


def test_unknown_ref_is_not_found():
    files = github_files(FakeGitHub(APPS / "node-express"), ref="no-such-branch")

    with pytest.raises(NotFound, match="no tree at no-such-branch in acme/app"):
        files.list_paths()


@pytest.mark.parametrize(
    ("status", "transient"), [(500, True), (429, True), (403, False), (401, False)]
)
def test_github_errors_become_provider_errors_marked_transient_or_not(status, transient):
    files = github_files(FakeGitHub(APPS / "node-express", fail=status))

    with pytest.raises(ProviderError) as raised:
        files.list_paths()

    assert raised.value.transient is transient
    assert f"HTTP {status}" in raised.value.message
    assert "ghs_test_installation_token" not in raised.value.message


def test_unreachable_github_is_a_transient_provider_error():
    def refuse(request):
        raise httpx.ConnectError("connection refused", request=request)

    from githubkit import GitHub

    client = GitHub("t", base_url=API, transport=httpx.MockTransport(refuse), auto_retry=False)

    with pytest.raises(ProviderError) as raised:
        GitHubRepoFiles(client, "acme", "app", "main").list_paths()
    assert raised.value.transient is True


def test_github_files_satisfies_the_port():
    assert isinstance(github_files(FakeGitHub(APPS / "node-express")), RepoFiles)


def test_blob_shape_is_what_githubkit_parses():
    fake = FakeGitHub(APPS / "node-express")
    sha = git_blob_sha((APPS / "node-express" / "server.js").read_bytes())
    from githubkit_schemas.v2026_03_10.models import Blob, GitTree

    GitTree.model_validate(fake.tree())
    Blob.model_validate(json.loads(json.dumps(fake.blob(sha))))
