"""`RepoFiles` over the GitHub REST API, for scans on the control plane.

One recursive tree call lists the repository at a ref; each file the scanner reads
is one blob call by the sha the tree gave, so a scan costs a bounded, small number
of API calls (the scanner reads a few dozen key files at most) and sees one
consistent snapshot even if the branch moves meanwhile.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

from vmkit.ai.repo_files import (
    DEFAULT_MAX_BYTES,
    decode_text,
    is_ignored,
    normalize_repo_path,
)
from vmkit.errors import NotFound, ProviderError

if TYPE_CHECKING:
    from githubkit import GitHub

#: Upper bound on blob reads per scan; the scanner stays well below it, so hitting
#: it means a bug, and failing loudly beats burning the installation's rate limit.
DEFAULT_MAX_READS = 60


class GitHubRepoFiles:
    """A repository at a ref, read through a ready githubkit client."""

    def __init__(
        self,
        github: GitHub[Any],
        owner: str,
        repo: str,
        ref: str,
        *,
        max_reads: int = DEFAULT_MAX_READS,
    ):
        self._github = github
        self.owner = owner
        self.repo = repo
        self.ref = ref
        self.max_reads = max_reads
        self.truncated = False
        self.api_calls = 0
        self.blob_reads = 0
        self._blobs: dict[str, tuple[str, int]] | None = None
        self._cache: dict[str, str | None] = {}

    def __repr__(self) -> str:
        return f"GitHubRepoFiles({self.owner}/{self.repo}@{self.ref})"

    def list_paths(self) -> list[str]:
        return sorted(self._tree())

    def read_text(self, path: str, max_bytes: int = DEFAULT_MAX_BYTES) -> str | None:
        path = normalize_repo_path(path)
        entry = self._tree().get(path)
        if entry is None:
            return None
        sha, size = entry
        if size > max_bytes:
            return None
        if path not in self._cache:
            self._cache[path] = self._read_blob(path, sha)
        return self._cache[path]

    def _tree(self) -> dict[str, tuple[str, int]]:
        if self._blobs is None:
            tree = self._call(
                f"tree at {self.ref}",
                lambda: self._github.rest.git.get_tree(
                    self.owner, self.repo, self.ref, recursive="1"
                ),
            )
            self.truncated = bool(tree.truncated)
            self._blobs = {
                item.path: (item.sha, item.size or 0)
                for item in tree.tree
                if item.type == "blob" and item.path and item.sha and not is_ignored(item.path)
            }
        return self._blobs

    def _read_blob(self, path: str, sha: str) -> str | None:
        if self.blob_reads >= self.max_reads:
            raise ProviderError(
                f"scan of {self.owner}/{self.repo} needed more than {self.max_reads} file reads",
                provider="github",
            )
        self.blob_reads += 1
        blob = self._call(path, lambda: self._github.rest.git.get_blob(self.owner, self.repo, sha))
        if blob.encoding != "base64":
            return decode_text(blob.content.encode("utf-8"))
        try:
            return decode_text(base64.b64decode(blob.content))
        except (binascii.Error, ValueError):
            return None

    def _call(self, what: str, request: Any) -> Any:
        """Run one API call, turning githubkit's errors into the domain's."""
        from githubkit.exception import RequestError, RequestFailed, RequestTimeout

        self.api_calls += 1
        where = f"{self.owner}/{self.repo}"
        try:
            return request().parsed_data
        except RequestFailed as exc:
            status = exc.response.status_code
            if status == 404:
                raise NotFound(f"GitHub has no {what} in {where} (or no access to it)") from exc
            transient = status == 429 or status >= 500
            raise ProviderError(
                f"GitHub refused reading {what} in {where}: HTTP {status}",
                provider="github",
                transient=transient,
            ) from exc
        except (RequestTimeout, RequestError) as exc:
            raise ProviderError(
                f"GitHub did not answer reading {what} in {where}",
                provider="github",
                transient=True,
            ) from exc
