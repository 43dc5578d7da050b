"""Static sites: an index.html and no application manifest."""

from __future__ import annotations

from vmkit.ai.languages.common import BUILDER, AppDir, Detection


def detect(app: AppDir) -> Detection | None:
    index = app.first("index.html", "public/index.html")
    if index is None:
        return None
    found = Detection(language="static", default_port=8080, health_path="/")
    found.note("language", app.evidence(index, "static site entry page"))
    found.note("health_path", app.evidence(index, "the site's index page"))
    found.not_buildable_reason = f"{BUILDER} has no static web server buildpack"
    found.start_command = "nginx"
    found.is_web_app = True
    return found
