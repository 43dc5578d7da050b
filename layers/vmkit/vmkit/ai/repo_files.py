"""Read-only access to a repository's files, wherever the repository lives.

The scanner never clones: on the control plane it reads a handful of key files
through the GitHub API, and `vmkit init` reads the working tree. Both sit behind
`RepoFiles`, so the scanner is one piece of code with one behaviour.
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path, PurePosixPath
from typing import Protocol, runtime_checkable

from vmkit.errors import InvalidInput

#: Directories that hold dependencies, build output or tool state, never the app's
#: own source. Skipping them keeps scans fast and keeps vendored manifests (a
#: package.json deep in node_modules) from being mistaken for apps.
IGNORED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        "bower_components",
        ".venv",
        "venv",
        "__pycache__",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        "vendor",
        ".bundle",
        "target",
        ".gradle",
        ".next",
        ".nuxt",
        ".svelte-kit",
        ".turbo",
        ".cache",
        ".idea",
    }
)

DEFAULT_MAX_BYTES = 256 * 1024
#: A repository with more files than this is listed partially; the scanner only
#: needs manifests near the top of the tree.
MAX_LISTED_FILES = 20_000


@runtime_checkable
class RepoFiles(Protocol):
    """A repository snapshot the scanner may read, and never write.

    Paths are POSIX, relative to the repository root, without a leading `./`.
    """

    def list_paths(self) -> list[str]:
        """Every file the scanner may consider, sorted, dependency dirs excluded."""
        ...

    def read_text(self, path: str, max_bytes: int = DEFAULT_MAX_BYTES) -> str | None:
        """The file's text, or None if it is missing, binary, or larger than max_bytes."""
        ...


def normalize_repo_path(path: str) -> str:
    """Reject paths that could escape the repository (absolute, `..`)."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise InvalidInput(f"'{path}' is not a path inside the repository")
    return pure.as_posix()


def is_ignored(path: str) -> bool:
    return any(part in IGNORED_DIRS for part in PurePosixPath(path).parts[:-1])


def decode_text(data: bytes) -> str | None:
    """UTF-8 text, or None for binary content (a NUL byte or invalid UTF-8)."""
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


class LocalCheckout:
    """A working tree on disk, as `vmkit init` sees it.

    Follows the root `.gitignore`'s simple patterns (names and globs, no negation) on
    top of `IGNORED_DIRS`, and never follows a symlink out of the tree.
    """

    def __init__(self, path: str | os.PathLike[str], *, max_files: int = MAX_LISTED_FILES):
        root = Path(path).expanduser()
        if not root.is_dir():
            raise InvalidInput(f"{root} is not a directory", details={"path": str(root)})
        self.root = root.resolve()
        self.max_files = max_files
        self.truncated = False
        self._gitignore = self._read_gitignore()
        self._paths: list[str] | None = None

    def __repr__(self) -> str:
        return f"LocalCheckout({str(self.root)!r})"

    def list_paths(self) -> list[str]:
        if self._paths is None:
            self._paths = self._walk()
        return list(self._paths)

    def read_text(self, path: str, max_bytes: int = DEFAULT_MAX_BYTES) -> str | None:
        target = self.root / normalize_repo_path(path)
        try:
            resolved = target.resolve()
            if not resolved.is_relative_to(self.root) or not resolved.is_file():
                return None
            if resolved.stat().st_size > max_bytes:
                return None
            return decode_text(resolved.read_bytes())
        except OSError:
            return None

    def _walk(self) -> list[str]:
        found: list[str] = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            prefix = "" if rel_dir == "." else rel_dir + "/"
            dirnames[:] = sorted(
                d
                for d in dirnames
                if d not in IGNORED_DIRS
                and not self._gitignored(prefix + d, is_dir=True)
                and not (Path(dirpath) / d).is_symlink()
            )
            for name in sorted(filenames):
                rel = prefix + name
                if (Path(dirpath) / name).is_symlink() or self._gitignored(rel, is_dir=False):
                    continue
                found.append(rel)
                if len(found) >= self.max_files:
                    self.truncated = True
                    return sorted(found)
        return sorted(found)

    def _read_gitignore(self) -> list[str]:
        try:
            text = (self.root / ".gitignore").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        patterns = []
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith(("#", "!")):
                patterns.append(line)
        return patterns

    def _gitignored(self, rel: str, *, is_dir: bool) -> bool:
        name = rel.rsplit("/", 1)[-1]
        for pattern in self._gitignore:
            dir_only = pattern.endswith("/")
            pat = pattern.rstrip("/")
            if dir_only and not is_dir:
                continue
            if "/" in pat.lstrip("/"):
                if fnmatch.fnmatch(rel, pat.lstrip("/")):
                    return True
            elif fnmatch.fnmatch(name, pat.lstrip("/")):
                return True
        return False
