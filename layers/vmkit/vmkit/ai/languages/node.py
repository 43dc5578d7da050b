"""Node.js: package.json; Next.js, Remix, Express."""

from __future__ import annotations

import json
import re

from vmkit.ai.languages.common import AppDir, Detection, pick_sources

_LOCKFILES = (
    ("pnpm-lock.yaml", "pnpm"),
    ("yarn.lock", "yarn"),
    ("bun.lockb", "bun"),
    ("bun.lock", "bun"),
    ("package-lock.json", "npm"),
)
#: Next.js and Remix route files that serve a path, e.g. app/api/health/route.ts.
_NEXT_ROUTE = re.compile(r"^(?:src/)?(?:app|pages)/(.+?)(?:/route|/index)?\.(?:js|jsx|ts|tsx|mjs)$")
_REMIX_ROUTE = re.compile(r"^app/routes/(.+?)(?:/route)?\.(?:js|jsx|ts|tsx)$")
_ENTRY_POINTS = ("server.js", "index.js", "app.js", "main.js", "src/server.js", "src/index.js")
_ENTRY_POINTS += ("src/app.js", "server.ts", "src/server.ts", "src/index.ts", "src/main.ts")


def detect(app: AppDir) -> Detection | None:
    if not app.has("package.json"):
        return None
    text = app.read("package.json") or "{}"
    try:
        package = json.loads(text)
    except json.JSONDecodeError:
        package = {}
    if not isinstance(package, dict):
        package = {}
    found = Detection(language="node", default_port=3000, manifest_text=text)
    found.note("language", app.evidence("package.json", "Node.js manifest"))
    deps = {**_dict(package.get("devDependencies")), **_dict(package.get("dependencies"))}
    found.dependencies = {name.lower() for name in deps}
    found.package_manager = _package_manager(app, package, found)
    found.buildpacks = ["heroku/nodejs", "heroku/procfile"]

    if "next" in deps:
        found.framework = "nextjs"
        found.note("framework", app.evidence("package.json", "dependency 'next'"))
        found.health_path = _route_health(app, _NEXT_ROUTE, found)
    elif any(name.startswith("@remix-run/") for name in deps):
        found.framework = "remix"
        found.note("framework", app.evidence("package.json", "dependencies '@remix-run/*'"))
        found.health_path = _route_health(app, _REMIX_ROUTE, found)
    elif "express" in deps:
        found.framework = "express"
        found.note("framework", app.evidence("package.json", "dependency 'express'"))

    scripts = _dict(package.get("scripts"))
    if "start" in scripts:
        runner = found.package_manager or "npm"
        found.start_command = f"{runner} start"
        found.note(
            "start_command", app.evidence("package.json", f"scripts.start: {scripts['start']}")
        )
    found.is_web_app = found.framework is not None or "start" in scripts
    found.workspace_root = "workspaces" in package or app.has("pnpm-workspace.yaml")
    found.source_files = pick_sources(
        app, list(_ENTRY_POINTS), ["*.js", "*.jsx", "*.ts", "*.tsx", "*.mjs"], limit=10
    )
    return found


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _package_manager(app: AppDir, package: dict, found: Detection) -> str:
    declared = package.get("packageManager")
    if isinstance(declared, str) and "@" in declared:
        found.note("package_manager", app.evidence("package.json", f"packageManager: {declared}"))
        return declared.split("@", 1)[0]
    for lockfile, manager in _LOCKFILES:
        if app.has(lockfile):
            found.note("package_manager", app.evidence(lockfile, f"{manager} lockfile"))
            return manager
    for lockfile, manager in _LOCKFILES:
        if app.repo_has(lockfile):
            found.note(
                "package_manager", app.evidence_at_root(lockfile, f"{manager} workspace lockfile")
            )
            return manager
    found.note("package_manager", app.evidence("package.json", "no lockfile: npm"))
    return "npm"


def _route_health(app: AppDir, route: re.Pattern[str], found: Detection) -> str | None:
    """Frameworks with file-based routing declare health endpoints by file name."""
    for name in app.names:
        match = route.match(name)
        if not match:
            continue
        segments = match.group(1).replace(".", "/").split("/")
        if segments and segments[-1] in {"health", "healthz", "healthcheck", "up"}:
            path = "/" + "/".join(s for s in segments if not s.startswith("("))
            found.note("health_path", app.evidence(name, f"route file serving {path}"))
            return path
    return None
