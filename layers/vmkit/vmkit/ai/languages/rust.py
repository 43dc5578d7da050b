"""Rust: Cargo.toml. No buildpack in VMKit's builder builds Rust, so a Dockerfile does."""

from __future__ import annotations

import tomllib

from vmkit.ai.languages.common import BUILDER, AppDir, Detection, pick_sources

_FRAMEWORKS = ("axum", "actix-web", "rocket", "warp", "poem")


def detect(app: AppDir) -> Detection | None:
    if not app.has("Cargo.toml"):
        return None
    text = app.read("Cargo.toml") or ""
    try:
        cargo = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        cargo = {}
    found = Detection(language="rust", package_manager="cargo", manifest_text=text)
    found.note("language", app.evidence("Cargo.toml", "Cargo manifest"))
    found.note("package_manager", app.evidence("Cargo.toml", "cargo"))
    found.dependencies = {name.lower() for name in cargo.get("dependencies", {})}
    found.not_buildable_reason = f"{BUILDER} has no Rust buildpack"
    for name in _FRAMEWORKS:
        if name in found.dependencies:
            found.framework = name
            found.note("framework", app.evidence("Cargo.toml", f"dependency '{name}'"))
            if name == "rocket":
                found.default_port = 8000
            break
    package = cargo.get("package", {}).get("name")
    if package and app.has("src/main.rs"):
        found.start_command = f"./{package}"
        found.note("start_command", app.evidence("src/main.rs", f"binary '{package}'"))
    found.is_web_app = found.framework is not None
    found.workspace_root = "workspace" in cargo and "package" not in cargo
    found.source_files = pick_sources(app, ["src/main.rs"], ["src/*.rs"], limit=8)
    return found
