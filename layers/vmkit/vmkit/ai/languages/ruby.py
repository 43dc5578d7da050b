"""Ruby: Gemfile; Rails."""

from __future__ import annotations

import re

from vmkit.ai.languages.common import AppDir, Detection, pick_sources

_GEM = re.compile(r"""^\s*gem\s+["']([\w.-]+)["']""", re.MULTILINE)
_RAILS_HEALTH = re.compile(r"""get\s+["']/?up["']\s*=>\s*["']rails/health#show["']""")


def detect(app: AppDir) -> Detection | None:
    if not app.has("Gemfile"):
        return None
    text = app.read("Gemfile") or ""
    found = Detection(language="ruby", default_port=3000, package_manager="bundler")
    found.note("language", app.evidence("Gemfile", "Ruby Gemfile"))
    found.note("package_manager", app.evidence("Gemfile", "Bundler"))
    found.dependencies = {name.lower() for name in _GEM.findall(text)}
    found.manifest_text = text + (app.read("config/database.yml") or "")
    found.buildpacks = ["heroku/ruby", "heroku/procfile"]
    if "rails" in found.dependencies:
        found.framework = "rails"
        found.note("framework", app.evidence("Gemfile", "gem 'rails'"))
        found.start_command = "bin/rails server"
        found.note("start_command", app.evidence("Gemfile", "Rails server"))
        key = "RAILS_MASTER_KEY" if app.has("config/credentials.yml.enc") else "SECRET_KEY_BASE"
        found.required_env[key] = app.evidence("Gemfile", f"Rails needs {key} in production")
        routes = app.read("config/routes.rb") or ""
        if _RAILS_HEALTH.search(routes):
            found.health_path = "/up"
            found.note("health_path", app.evidence("config/routes.rb", "rails/health#show at /up"))
    elif app.has("config.ru"):
        found.start_command = "bundle exec rackup"
        found.note("start_command", app.evidence("config.ru", "Rack app"))
    found.is_web_app = found.start_command is not None
    found.source_files = pick_sources(
        app,
        ["config/application.rb", "config/puma.rb", "config.ru"],
        ["app/*.rb", "config/*.rb", "*.rb"],
        limit=8,
    )
    return found
