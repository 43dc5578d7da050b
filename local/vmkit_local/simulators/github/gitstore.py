"""Real git repositories behind the simulated GitHub: bare repos driven by git plumbing.

Every object the API hands out (blob, tree, commit, ref) is a real git object, so
SHAs are the ones git computes, merges are real merge commits (`git merge-tree`), and
the Actions runner gets a real clone. Trees are built in throw-away index files, so
concurrent requests never share an index; refs move with compare-and-swap.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ZERO_SHA = "0" * 40


class GitError(Exception):
    """A git command failed for a reason the caller did not anticipate."""


class RefConflict(Exception):
    """A ref was not at the expected value (someone moved it first), or already exists."""


@dataclass(frozen=True)
class Signature:
    name: str
    email: str
    date: datetime


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    type: str
    """blob, tree or commit (a submodule)."""
    sha: str
    size: int | None
    path: str


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    tree: str
    parents: list[str]
    author: Signature
    committer: Signature
    message: str


@dataclass(frozen=True)
class Change:
    """One entry of a tree to build: a blob (or subtree) at `path`, or a deletion."""

    path: str
    mode: str = "100644"
    sha: str | None = None
    """None deletes `path`."""


class GitRepo:
    def __init__(self, git_dir: Path) -> None:
        self.git_dir = git_dir

    @classmethod
    def init(cls, git_dir: Path, default_branch: str) -> GitRepo:
        git_dir.parent.mkdir(parents=True, exist_ok=True)
        _run(
            ["git", "init", "--quiet", "--bare", f"--initial-branch={default_branch}", str(git_dir)]
        )
        return cls(git_dir)

    # -- reading --------------------------------------------------------------------

    def resolve(self, rev: str, kind: str = "commit") -> str | None:
        """The sha `rev` names, peeled to `kind` (commit, tree, blob), or None."""
        if rev.startswith("-"):
            return None
        result = self._git(["rev-parse", "--verify", "--quiet", f"{rev}^{{{kind}}}"], check=False)
        return result.stdout.decode().strip() or None

    def object_type(self, sha: str) -> str | None:
        result = self._git(["cat-file", "-t", sha], check=False)
        return result.stdout.decode().strip() if result.returncode == 0 else None

    def read_blob(self, sha: str) -> bytes:
        return self._git(["cat-file", "blob", sha]).stdout

    def entry(self, commit: str, path: str) -> TreeEntry | None:
        """The tree entry at `path` in `commit` (the root tree for an empty path)."""
        if not path:
            tree = self.resolve(commit, "tree")
            return TreeEntry("040000", "tree", tree, None, "") if tree else None
        listed = self._git(["ls-tree", "-l", "-z", commit, "--", path], check=False)
        entries = _parse_ls_tree(listed.stdout)
        return entries[0] if entries and entries[0].path == path else None

    def ls_tree(self, treeish: str, *, recursive: bool = False) -> list[TreeEntry]:
        args = ["ls-tree", "-l", "-z", *(["-r", "-t"] if recursive else []), treeish]
        return _parse_ls_tree(self._git(args).stdout)

    def read_commit(self, sha: str) -> CommitInfo:
        raw = self._git(["cat-file", "commit", sha]).stdout.decode()
        header, _, message = raw.partition("\n\n")
        fields: dict[str, list[str]] = {}
        for line in header.splitlines():
            key, _, value = line.partition(" ")
            fields.setdefault(key, []).append(value)
        return CommitInfo(
            sha=sha,
            tree=fields["tree"][0],
            parents=fields.get("parent", []),
            author=_parse_signature(fields["author"][0]),
            committer=_parse_signature(fields["committer"][0]),
            message=message,
        )

    def refs(self, prefix: str = "refs/") -> dict[str, str]:
        listed = self._git(["for-each-ref", "--format=%(refname) %(objectname)", prefix])
        return dict(line.split(" ", 1) for line in listed.stdout.decode().splitlines())

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        return (
            self._git(["merge-base", "--is-ancestor", ancestor, descendant], check=False).returncode
            == 0
        )

    def merge_base(self, first: str, second: str) -> str | None:
        result = self._git(["merge-base", first, second], check=False)
        return result.stdout.decode().strip() or None

    def count_commits(self, base: str, head: str) -> int:
        return int(self._git(["rev-list", "--count", f"{base}..{head}"]).stdout)

    def diff_numstat(self, base: str, head: str) -> tuple[int, int, int]:
        """(additions, deletions, changed files) between two commits."""
        out = self._git(["diff", "--numstat", "-z", base, head]).stdout.decode()
        additions = deletions = files = 0
        for record in filter(None, out.split("\0")):
            parts = record.split("\t")
            if len(parts) >= 2:
                files += 1
                additions += int(parts[0]) if parts[0].isdigit() else 0
                deletions += int(parts[1]) if parts[1].isdigit() else 0
        return additions, deletions, files

    # -- writing --------------------------------------------------------------------

    def write_blob(self, data: bytes) -> str:
        return self._git(["hash-object", "-w", "--stdin"], stdin=data).stdout.decode().strip()

    def build_tree(self, base_tree: str | None, changes: list[Change]) -> str:
        """A new tree: `base_tree` (or empty) with `changes` applied, written to the repo.

        A change replaces whatever was at its path, including a whole directory.
        """
        with tempfile.TemporaryDirectory(dir=self.git_dir) as scratch:
            env = {"GIT_INDEX_FILE": str(Path(scratch) / "index"), "GIT_LITERAL_PATHSPECS": "1"}
            if base_tree:
                self._git(["read-tree", base_tree], env=env)
            lines = []
            if changes:  # (ls-files without paths would list, and so remove, everything)
                paths = [change.path for change in changes]
                replaced = self._git(["ls-files", "-z", "--", *paths], env=env).stdout.decode()
                lines = [f"0 {ZERO_SHA}\t{path}" for path in filter(None, replaced.split("\0"))]
            for change in changes:
                if change.sha is None:
                    continue
                if change.mode == "040000":  # a subtree: add its files under the path
                    lines += [
                        f"{entry.mode} {entry.sha}\t{change.path}/{entry.path}"
                        for entry in self.ls_tree(change.sha, recursive=True)
                        if entry.type != "tree"
                    ]
                else:
                    lines.append(f"{change.mode} {change.sha}\t{change.path}")
            if lines:
                info = "".join(line + "\n" for line in lines).encode()
                self._git(["update-index", "--index-info"], stdin=info, env=env)
            return self._git(["write-tree"], env=env).stdout.decode().strip()

    def commit_tree(
        self,
        tree: str,
        parents: list[str],
        message: str,
        author: Signature,
        committer: Signature | None = None,
    ) -> str:
        committer = committer or author
        env = {
            "GIT_AUTHOR_NAME": author.name,
            "GIT_AUTHOR_EMAIL": author.email,
            "GIT_AUTHOR_DATE": _git_date(author.date),
            "GIT_COMMITTER_NAME": committer.name,
            "GIT_COMMITTER_EMAIL": committer.email,
            "GIT_COMMITTER_DATE": _git_date(committer.date),
        }
        args = ["commit-tree", tree, *(arg for parent in parents for arg in ("-p", parent))]
        return self._git(args, stdin=message.encode(), env=env).stdout.decode().strip()

    def update_ref(self, ref: str, new: str, expected: str | None) -> None:
        """Point `ref` at `new` if it is at `expected` (ZERO_SHA: must not exist yet)."""
        args = ["update-ref", ref, new, *([expected] if expected else [])]
        result = self._git(args, check=False)
        if result.returncode != 0:
            raise RefConflict(result.stderr.decode().strip())

    def delete_ref(self, ref: str, expected: str) -> None:
        result = self._git(["update-ref", "-d", ref, expected], check=False)
        if result.returncode != 0:
            raise RefConflict(result.stderr.decode().strip())

    def merge_trees(self, ours: str, theirs: str) -> str | None:
        """The tree of merging two commits, or None when they conflict."""
        result = self._git(["merge-tree", "--write-tree", ours, theirs], check=False)
        if result.returncode == 1:
            return None
        if result.returncode != 0:
            raise GitError(result.stderr.decode().strip())
        return result.stdout.decode().splitlines()[0].strip()

    def clone_at(self, destination: Path, sha: str, branch: str | None) -> None:
        """A working clone checked out at `sha` (on `branch` when it points there)."""
        _run(["git", "clone", "--quiet", "--no-checkout", str(self.git_dir), str(destination)])
        target = ["-B", branch, sha] if branch else ["--detach", sha]
        _run(["git", "-C", str(destination), "checkout", "--quiet", *target])

    # -- plumbing -------------------------------------------------------------------

    def _git(
        self,
        args: list[str],
        *,
        stdin: bytes | None = None,
        env: dict[str, str] | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[bytes]:
        return _run(["git", f"--git-dir={self.git_dir}", *args], stdin=stdin, env=env, check=check)


def valid_ref_name(name: str) -> bool:
    return _run(["git", "check-ref-format", name], check=False).returncode == 0


def _run(
    args: list[str],
    *,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    isolated = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        **(env or {}),
    }
    result = subprocess.run(args, input=stdin, capture_output=True, env=isolated, check=False)
    if check and result.returncode != 0:
        raise GitError(f"{' '.join(args[:3])}: {result.stderr.decode().strip()}")
    return result


def _parse_ls_tree(output: bytes) -> list[TreeEntry]:
    entries = []
    for record in filter(None, output.decode().split("\0")):
        meta, _, path = record.partition("\t")
        mode, kind, sha, size = meta.split()
        entries.append(TreeEntry(mode, kind, sha, None if size == "-" else int(size), path))
    return entries


def _parse_signature(text: str) -> Signature:
    name, _, rest = text.partition(" <")
    email, _, when = rest.partition("> ")
    seconds, _, _offset = when.partition(" ")
    return Signature(name, email, datetime.fromtimestamp(int(seconds), UTC))


def _git_date(moment: datetime) -> str:
    return f"@{int(moment.timestamp())} +0000"
