"""Go: go.mod."""

from __future__ import annotations

import re

from vmkit.ai.languages.common import AppDir, Detection, pick_sources

_MODULE = re.compile(r"^module\s+(\S+)", re.MULTILINE)
_REQUIRE = re.compile(r"^\s*(?:require\s+)?([\w.-]+\.[\w.-]+/[\w./-]+)\s+v[\w.+-]+", re.MULTILINE)
_FRAMEWORKS = {
    "github.com/gin-gonic/gin": "gin",
    "github.com/labstack/echo/v4": "echo",
    "github.com/gofiber/fiber/v2": "fiber",
    "github.com/go-chi/chi/v5": "chi",
}


def detect(app: AppDir) -> Detection | None:
    if not app.has("go.mod"):
        return None
    text = app.read("go.mod") or ""
    found = Detection(language="go", package_manager="go modules", manifest_text=text)
    found.note("language", app.evidence("go.mod", "Go module"))
    found.note("package_manager", app.evidence("go.mod", "go modules"))
    found.dependencies = set(_REQUIRE.findall(text))
    found.buildpacks = ["heroku/go", "heroku/procfile"]
    for module, name in _FRAMEWORKS.items():
        if module in found.dependencies:
            found.framework = name
            found.note("framework", app.evidence("go.mod", f"requires {module}"))
            break
    module = _MODULE.search(text)
    mains = [
        n for n in app.names if n == "main.go" or (n.startswith("cmd/") and n.endswith("/main.go"))
    ]
    if module and mains:
        binary = (
            module.group(1).rsplit("/", 1)[-1] if mains[0] == "main.go" else mains[0].split("/")[1]
        )
        found.start_command = binary
        found.note("start_command", app.evidence(mains[0], f"main package, binary '{binary}'"))
    found.is_web_app = found.framework is not None or bool(mains)
    found.source_files = pick_sources(app, mains, ["*.go"], limit=10)
    return found
