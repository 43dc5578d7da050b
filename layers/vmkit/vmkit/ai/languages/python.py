"""Python: requirements.txt, pyproject.toml or Pipfile; Django, FastAPI, Flask."""

from __future__ import annotations

import re
import tomllib

from vmkit.ai.languages.common import AppDir, Detection, pick_sources

MANIFESTS = ("requirements.txt", "pyproject.toml", "Pipfile")
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_APP_OBJECT = re.compile(r"^(\w+)\s*=\s*(FastAPI|Flask)\(", re.MULTILINE)
_DJANGO_SETTINGS = re.compile(r"DJANGO_SETTINGS_MODULE['\"]\s*,\s*['\"]([\w.]+)\.settings['\"]")
_ENTRY_POINTS = ("app.py", "main.py", "wsgi.py", "asgi.py", "server.py", "app/main.py")
_ENTRY_POINTS += ("app/__init__.py", "src/main.py", "src/app.py", "api/main.py")


def detect(app: AppDir) -> Detection | None:
    manifest = app.first(*MANIFESTS)
    if manifest is None:
        return None
    found = Detection(language="python", default_port=8000)
    found.note("language", app.evidence(manifest, "Python manifest"))
    found.dependencies = _dependencies(app, found)
    found.package_manager = _package_manager(app, found)
    found.buildpacks = ["heroku/python", "heroku/procfile"]

    if "django" in found.dependencies:
        _django(app, found)
    elif "fastapi" in found.dependencies:
        _asgi_or_wsgi(
            app, found, "fastapi", "uvicorn", "{module}:{var} --host 0.0.0.0 --port {port}"
        )
    elif "flask" in found.dependencies:
        _asgi_or_wsgi(app, found, "flask", "gunicorn", "{module}:{var} --bind 0.0.0.0:{port}")
    else:
        entry = app.first("app.py", "main.py", "server.py")
        if entry:
            found.start_command = found.run_command = f"python {entry}"
            found.note("start_command", app.evidence(entry, "entry point script"))
    found.is_web_app = found.framework is not None or app.has("Procfile")
    preferred = list(_ENTRY_POINTS)
    found.source_files = pick_sources(app, ["manage.py", *preferred], ["*.py"], limit=12)
    return found


def _dependencies(app: AppDir, found: Detection) -> set[str]:
    names: set[str] = set()
    for req in ["requirements.txt", *sorted(app.glob("requirements/*.txt"))]:
        text = app.read(req)
        if text:
            names |= {_canonical(m) for m in _requirement_lines(text)}
            found.manifest_text += text
    pyproject = _toml(app, "pyproject.toml")
    if pyproject:
        project = pyproject.get("project", {})
        names |= {
            _canonical(m) for m in _requirement_lines("\n".join(project.get("dependencies", [])))
        }
        poetry = pyproject.get("tool", {}).get("poetry", {}).get("dependencies", {})
        names |= {_canonical(n) for n in poetry if n.lower() != "python"}
    pipfile = _toml(app, "Pipfile")
    if pipfile:
        names |= {_canonical(n) for n in pipfile.get("packages", {})}
    return names


def _requirement_lines(text: str) -> list[str]:
    names = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            match = _REQUIREMENT.match(line)
            if match:
                names.append(match.group(1))
    return names


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _toml(app: AppDir, name: str) -> dict | None:
    text = app.read(name)
    if not text:
        return None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None


def _package_manager(app: AppDir, found: Detection) -> str:
    for lockfile, manager in (("uv.lock", "uv"), ("poetry.lock", "poetry"), ("Pipfile", "pipenv")):
        if app.has(lockfile):
            found.note("package_manager", app.evidence(lockfile, f"{manager} lockfile"))
            return manager
    source = app.first("requirements.txt", "pyproject.toml")
    found.note("package_manager", app.evidence(source or "", "pip requirements"))
    return "pip"


def _django(app: AppDir, found: Detection) -> None:
    found.framework = "django"
    found.note("framework", app.evidence(_manifest_of(app), "dependency 'django'"))
    found.warnings.append(
        "Django answers 400 to hosts outside ALLOWED_HOSTS: allow the app's host name and "
        "the container's own address, which the health check calls"
    )
    project = None
    manage = app.read("manage.py")
    if manage:
        match = _DJANGO_SETTINGS.search(manage)
        if match:
            project = match.group(1)
            found.note(
                "start_command", app.evidence("manage.py", f"settings module {project}.settings")
            )
    if project is None:
        found.warnings.append("Django project module not found in manage.py; set the start command")
        return
    _server_command(found, "gunicorn", f"{project}.wsgi --bind 0.0.0.0:{{port}}")


def _asgi_or_wsgi(app: AppDir, found: Detection, framework: str, server: str, args: str) -> None:
    found.framework = framework
    found.note("framework", app.evidence(_manifest_of(app), f"dependency '{framework}'"))
    for entry in _ENTRY_POINTS:
        text = app.read(entry)
        match = _APP_OBJECT.search(text or "")
        if match:
            module = entry.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
            found.note(
                "start_command", app.evidence(entry, f"{match.group(2)} app '{match.group(1)}'")
            )
            _server_command(
                found, server, args.format(module=module, var=match.group(1), port="{port}")
            )
            return
    found.warnings.append(f"no {framework} app object found in the usual entry points")


def _server_command(found: Detection, server: str, args: str) -> None:
    found.start_command = found.run_command = f"{server} {args}"
    if server not in found.dependencies:
        found.warnings.append(
            f"'{server}' is not in the dependencies; add it to serve in production"
        )


def _manifest_of(app: AppDir) -> str:
    return app.first(*MANIFESTS) or "requirements.txt"
