"""What every language detector shares: a view of one app directory and its result."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from vmkit.ai.repo_files import RepoFiles
from vmkit.ai.scan_result import Evidence, Language

#: Files read per scan, at most: enough for manifests and entry points, small
#: enough that a scan through the GitHub API stays a few dozen calls.
MAX_FILE_READS = 40


class ReadBudget:
    """Counts reads across the whole scan so no repo shape can make it unbounded."""

    def __init__(self, limit: int = MAX_FILE_READS):
        self.limit = limit
        self.used = 0

    def take(self) -> bool:
        if self.used >= self.limit:
            return False
        self.used += 1
        return True


class AppDir:
    """The files under one directory of the repo, read through a shared budget."""

    def __init__(self, files: RepoFiles, path: str, all_paths: list[str], budget: ReadBudget):
        self.files = files
        self.path = path
        prefix = "" if path == "." else path + "/"
        self.names = [p[len(prefix) :] for p in all_paths if p.startswith(prefix)]
        self._name_set = set(self.names)
        self._root_names = {p for p in all_paths if "/" not in p}
        self._budget = budget
        self._cache: dict[str, str | None] = {}

    def repo_path(self, name: str) -> str:
        return name if self.path == "." else f"{self.path}/{name}"

    def has(self, name: str) -> bool:
        return name in self._name_set

    def repo_has(self, name: str) -> bool:
        """A file at the repository root (a monorepo's shared lockfile)."""
        return name in self._root_names

    def first(self, *names: str) -> str | None:
        return next((n for n in names if n in self._name_set), None)

    def glob(self, pattern: str) -> list[str]:
        return [n for n in self.names if fnmatch.fnmatch(n, pattern)]

    def read(self, name: str) -> str | None:
        if name not in self._cache:
            if not self.has(name) or not self._budget.take():
                return None
            self._cache[name] = self.files.read_text(self.repo_path(name))
        return self._cache[name]

    def evidence(self, name: str, found: str) -> Evidence:
        return Evidence(file=self.repo_path(name), found=found)

    def evidence_at_root(self, name: str, found: str) -> Evidence:
        return Evidence(file=name, found=found)


@dataclass
class Detection:
    """One language detector's verdict on one directory."""

    language: Language
    framework: str | None = None
    package_manager: str | None = None
    #: How the app starts, as a person would type it.
    start_command: str | None = None
    #: The command the container must be given because the image has no default web
    #: process (Python buildpacks need a Procfile; without one we pass the command).
    run_command: str | None = None
    default_port: int = 8080
    #: A port fixed by the framework's configuration (Spring's server.port, ...).
    configured_port: int | None = None
    health_path: str | None = None
    #: Buildpack ids the builder will use, or None if no supported buildpack builds it.
    buildpacks: list[str] | None = None
    not_buildable_reason: str | None = None
    dependencies: set[str] = field(default_factory=set)
    #: Raw manifest text worth a substring check (features, JDBC URLs ...).
    manifest_text: str = ""
    #: App-relative source files worth reading for ports, health paths and env vars.
    source_files: list[str] = field(default_factory=list)
    #: A web app (framework or start command) beats a library in a monorepo.
    is_web_app: bool = False
    #: A monorepo root (npm/pnpm workspaces, Cargo workspace) that holds the apps.
    workspace_root: bool = False
    evidence: dict[str, list[Evidence]] = field(default_factory=dict)
    #: Env vars the framework needs in production whether or not the code names them.
    required_env: dict[str, Evidence] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def note(self, conclusion: str, evidence: Evidence) -> None:
        self.evidence.setdefault(conclusion, []).append(evidence)


def pick_sources(app: AppDir, preferred: list[str], patterns: list[str], limit: int) -> list[str]:
    """Entry points first, then other files matching `patterns`, shallowest first."""
    chosen = [n for n in preferred if app.has(n)]
    rest = sorted(
        (n for n in app.names if any(fnmatch.fnmatch(n, p) for p in patterns)),
        key=lambda n: (n.count("/"), n),
    )
    for name in rest:
        if len(chosen) >= limit:
            break
        if name not in chosen and not _looks_like_test(name):
            chosen.append(name)
    return chosen[:limit]


def _looks_like_test(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    parts = name.split("/")
    return (
        base.startswith("test_")
        or ".test." in base
        or ".spec." in base
        or base.endswith("_test.go")
        or any(p in {"tests", "test", "spec", "__tests__"} for p in parts[:-1])
    )


#: The Cloud Native Buildpacks builder VMKit builds with. heroku/builder:24 publishes
#: amd64 and arm64 images (Hetzner's cax VMs are arm64) and carries buildpacks for
#: Python, Node.js, Ruby, Go and Java, the languages of the buildpacks table.
BUILDER = "heroku/builder:24"
