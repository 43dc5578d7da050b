"""Scan a repository: what it is, how it starts, what it needs, and why we think so.

The scan finds candidate app directories (a manifest, a Dockerfile or an index.html
up to three levels deep), lets one detector per language judge each, picks the
deployable app (a monorepo's web app over its libraries and workspace root), then
reads that app's entry points for its port, health path, env vars and services.
It reads a bounded number of files, so it costs the same few dozen API calls on a
huge repo as on a tiny one.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from vmkit.ai.languages import DETECTORS, LOOKED_FOR, MANIFEST_NAMES, STATIC_DETECTOR
from vmkit.ai.languages.common import BUILDER, AppDir, Detection, ReadBudget
from vmkit.ai.repo_files import RepoFiles, normalize_repo_path
from vmkit.ai.scan_result import (
    Buildpacks,
    EnvVarNeed,
    Evidence,
    OtherApp,
    ScanResult,
    ServiceNeed,
)
from vmkit.ai.signals import (
    EXPOSE,
    PLATFORM_ENV,
    env_names_in_compose,
    env_names_in_dotenv,
    env_names_in_source,
    health_paths_in_source,
    is_secret_name,
    port_in_command,
    port_in_source,
    preferred_health_path,
    services_in_compose,
    services_in_dependencies,
    services_in_env_names,
    services_in_text,
)
from vmkit.errors import InvalidInput

MAX_DEPTH = 3
MAX_CANDIDATES = 10
_DOTENV_FILES = (".env.example", ".env.sample", ".env.template", ".env.dist", ".env")
_COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
_CANDIDATE_MARKERS = MANIFEST_NAMES | {"Dockerfile", "index.html"}
_STATIC_ASSET_DIRS = {"public", "static", "templates", "assets", "dist", "build", "out"}


def scan(files: RepoFiles, *, app_path: str | None = None) -> ScanResult:
    """Scan `files`; `app_path` forces which directory is the app (monorepos).

    Raises InvalidInput when no directory holds a recognizable app, saying what was
    looked for and where.
    """
    paths = files.list_paths()
    budget = ReadBudget()
    if app_path is not None:
        app_path = "." if app_path in ("", ".", "./") else normalize_repo_path(app_path.rstrip("/"))
        dirs = [app_path]
    else:
        dirs = _candidate_dirs(paths)
    judged = [(app, _detect(app)) for app in (AppDir(files, d, paths, budget) for d in dirs)]
    judged = [(app, d) for app, d in judged if d is not None]
    judged = _drop_nested_static(judged)
    if not judged:
        raise _no_app_error(paths, app_path)

    chosen_app, chosen = max(judged, key=lambda pair: _rank(*pair))
    others = [
        OtherApp(
            path=app.path,
            language=d.language,
            framework=d.framework,
            why_not_chosen=_why_not(d, chosen_app.path),
        )
        for app, d in judged
        if app is not chosen_app
    ]
    root = chosen_app if chosen_app.path == "." else AppDir(files, ".", paths, budget)
    result = _conclude(chosen_app, chosen, root, others)
    if budget.used >= budget.limit:
        result.warnings.append(
            f"stopped reading after {budget.limit} files; conclusions may be partial"
        )
    if getattr(files, "truncated", False):
        result.warnings.append(
            "the repository listing was truncated; very deep files were not seen"
        )
    return result


def _candidate_dirs(paths: list[str]) -> list[str]:
    dirs: set[str] = set()
    for path in paths:
        pure = PurePosixPath(path)
        if pure.name in _CANDIDATE_MARKERS and len(pure.parts) <= MAX_DEPTH + 1:
            parent = pure.parent.as_posix()
            if pure.name == "index.html" and pure.parent.name in _STATIC_ASSET_DIRS:
                continue
            dirs.add(parent)
    return sorted(dirs, key=lambda d: (0 if d == "." else d.count("/") + 1, d))[:MAX_CANDIDATES]


def _detect(app: AppDir) -> Detection | None:
    for detector in DETECTORS:
        found = detector(app)
        if found is not None:
            return found
    found = STATIC_DETECTOR(app)
    if found is None and app.has("Dockerfile"):
        found = Detection(language="docker", is_web_app=True)
        found.note("language", app.evidence("Dockerfile", "a Dockerfile and no language manifest"))
        found.not_buildable_reason = "no language manifest: the Dockerfile builds the image"
    return found


def _drop_nested_static(judged: list[tuple[AppDir, Detection]]) -> list[tuple[AppDir, Detection]]:
    """An index.html inside a real app is one of its pages, not another app."""
    apps = [a.path for a, d in judged if d.language != "static" and not d.workspace_root]

    def inside_app(path: str) -> bool:
        return any(
            parent == "." or path.startswith(parent + "/") for parent in apps if parent != path
        )

    return [(a, d) for a, d in judged if d.language != "static" or not inside_app(a.path)]


def _rank(app: AppDir, found: Detection) -> tuple:
    depth = 0 if app.path == "." else app.path.count("/") + 1
    return (
        not found.workspace_root,
        found.is_web_app,
        app.has("Procfile") or app.has("Dockerfile"),
        found.framework is not None,
        -depth,
    )


def _why_not(found: Detection, chosen_path: str) -> str:
    if found.workspace_root:
        return "workspace root that holds the other packages"
    if not found.is_web_app:
        return "no web framework or start command: looks like a library or a tool"
    return f"also deployable; '{chosen_path}' ranked first (pass app_path to choose this one)"


def _no_app_error(paths: list[str], app_path: str | None) -> InvalidInput:
    where = f"'{app_path}'" if app_path else f"the repository root and {MAX_DEPTH} levels below it"
    looked_for = "; ".join(f"{what}: {', '.join(names)}" for what, names in LOOKED_FOR.items())
    return InvalidInput(
        f"No deployable app found in {where}. Looked for {looked_for}. "
        "Add one of these files, or a Dockerfile that builds your app.",
        details={"looked_for": LOOKED_FOR, "files_seen": len(paths), "app_path": app_path},
        code="no_app_found",
    )


def _conclude(app: AppDir, found: Detection, root: AppDir, others: list[OtherApp]) -> ScanResult:
    evidence = dict(found.evidence)
    warnings = list(found.warnings)
    # Present even if unreadable: the build uses it either way.
    dockerfile_text = (app.read("Dockerfile") or "") if app.has("Dockerfile") else None
    procfile_command = _procfile_web(app)
    sources = {name: app.read(name) or "" for name in found.source_files}

    start_command, run_command = found.start_command, found.run_command
    if procfile_command:
        start_command, run_command = procfile_command, None
        evidence["start_command"] = [app.evidence("Procfile", f"web: {procfile_command}")]
    if dockerfile_text is not None:
        run_command = None

    port = _port(app, found, sources, procfile_command, dockerfile_text, evidence)
    if start_command:
        start_command = start_command.replace("{port}", str(port))
    if run_command:
        run_command = run_command.replace("{port}", str(port))
    health_path = _health_path(app, found, sources, evidence, warnings)
    env_vars = _env_vars(app, root, found, sources)
    services = _services(app, root, found, env_vars)

    if app.path != ".":
        evidence["app_path"] = [Evidence(file=app.path, found="chosen app directory")]
    buildpacks = _buildpacks(found)
    manifest = evidence["language"][0].file
    evidence["buildpacks"] = [Evidence(file=manifest, found=buildpacks.reason)]
    if dockerfile_text is not None:
        evidence["dockerfile"] = [
            app.evidence("Dockerfile", "the app's own Dockerfile: the build uses it")
        ]
    if start_command is None:
        warnings.append("no start command found: add a Procfile with a 'web:' line")
    return ScanResult(
        language=found.language,
        framework=found.framework,
        package_manager=found.package_manager,
        start_command=start_command,
        run_command=run_command,
        port=port,
        health_path=health_path,
        services=services,
        env_vars=env_vars,
        app_path=app.path,
        other_apps=others,
        buildpacks=buildpacks,
        dockerfile=app.repo_path("Dockerfile") if dockerfile_text is not None else None,
        evidence=evidence,
        warnings=warnings,
    )


def _procfile_web(app: AppDir) -> str | None:
    for line in (app.read("Procfile") or "").splitlines():
        if line.startswith("web:"):
            return line.removeprefix("web:").strip() or None
    return None


def _port(
    app: AppDir,
    found: Detection,
    sources: dict[str, str],
    procfile_command: str | None,
    dockerfile_text: str | None,
    evidence: dict[str, list[Evidence]],
) -> int:
    def conclude(port: int, file: str, what: str) -> int:
        evidence["port"] = [app.evidence(file, what)]
        return port

    if dockerfile_text and (match := EXPOSE.search(dockerfile_text)):
        return conclude(int(match.group(1)), "Dockerfile", f"EXPOSE {match.group(1)}")
    if procfile_command and (port := port_in_command(procfile_command)):
        return conclude(port, "Procfile", f"web process binds port {port}")
    if found.configured_port:
        return found.configured_port
    for name, text in sources.items():
        if port := port_in_source(text):
            return conclude(port, name, f"listens on {port} (or $PORT)")
    manifest = next(iter(found.evidence.get("language", [])), None)
    what = f"{found.framework or found.language} default port {found.default_port}"
    evidence["port"] = [Evidence(file=manifest.file if manifest else app.path, found=what)]
    return found.default_port


def _health_path(
    app: AppDir,
    found: Detection,
    sources: dict[str, str],
    evidence: dict[str, list[Evidence]],
    warnings: list[str],
) -> str:
    if found.health_path:
        return found.health_path
    seen: dict[str, str] = {}
    for name, text in sources.items():
        for path in health_paths_in_source(text):
            seen.setdefault(path, name)
    best = preferred_health_path(list(seen))
    if best:
        evidence["health_path"] = [app.evidence(seen[best], f"route '{best}'")]
        return best
    warnings.append("no health endpoint found: the health check uses '/'; add a cheap '/up' route")
    evidence["health_path"] = [Evidence(file=app.path, found="no health route found; using '/'")]
    return "/"


def _env_vars(
    app: AppDir, root: AppDir, detection: Detection, sources: dict[str, str]
) -> list[EnvVarNeed]:
    found: dict[str, list[Evidence]] = {n: [e] for n, e in detection.required_env.items()}

    def add(names: set[str], evidence: Evidence) -> None:
        for name in sorted(names - PLATFORM_ENV):
            found.setdefault(name, []).append(evidence)

    for name, text in sources.items():
        add(env_names_in_source(text), app.evidence(name, "read from the environment"))
    for where in _unique_dirs(app, root):
        for name in _DOTENV_FILES:
            text = where.read(name)
            if text:
                add(env_names_in_dotenv(text), where.evidence(name, "declared in an env file"))
        for name in _COMPOSE_FILES:
            text = where.read(name)
            if text:
                add(env_names_in_compose(text), where.evidence(name, "compose service environment"))
    return [
        EnvVarNeed(name=name, secret=is_secret_name(name), evidence=evidence)
        for name, evidence in sorted(found.items())
    ]


def _services(
    app: AppDir, root: AppDir, found: Detection, env_vars: list[EnvVarNeed]
) -> list[ServiceNeed]:
    needs: dict[str, list[Evidence]] = {}
    manifest = next(iter(found.evidence.get("language", [])), Evidence(file=app.path, found=""))
    for service, dep in services_in_dependencies(found.dependencies).items():
        needs.setdefault(service, []).append(
            Evidence(file=manifest.file, found=f"dependency '{dep}'")
        )
    for service, marker in services_in_text(found.manifest_text).items():
        needs.setdefault(service, []).append(
            Evidence(file=manifest.file, found=f"mentions '{marker}'")
        )
    by_name = {v.name: v for v in env_vars}
    for service, name in services_in_env_names(set(by_name)).items():
        needs.setdefault(service, []).append(
            Evidence(file=by_name[name].evidence[0].file, found=f"env var {name}")
        )
    for where in _unique_dirs(app, root):
        for name in _COMPOSE_FILES:
            text = where.read(name)
            if text:
                for service, image in services_in_compose(text).items():
                    needs.setdefault(service, []).append(
                        where.evidence(name, f"compose image {image}")
                    )
    return [ServiceNeed(name=s, evidence=e) for s, e in sorted(needs.items())]  # type: ignore[arg-type]


def _unique_dirs(app: AppDir, root: AppDir) -> list[AppDir]:
    return [app] if app is root or app.path == "." else [app, root]


def _buildpacks(found: Detection) -> Buildpacks:
    if found.buildpacks is None:
        return Buildpacks(
            buildable=False,
            builder=None,
            reason=found.not_buildable_reason or "no buildpack supports this app",
        )
    return Buildpacks(
        buildable=True,
        builder=BUILDER,
        buildpacks=found.buildpacks,
        reason=f"{found.buildpacks[0]} in {BUILDER} builds {found.language} apps",
    )
