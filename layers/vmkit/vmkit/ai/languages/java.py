"""Java: pom.xml or build.gradle; Spring Boot."""

from __future__ import annotations

import re

from vmkit.ai.languages.common import AppDir, Detection, pick_sources

_ARTIFACT = re.compile(r"<artifactId>\s*([\w.-]+)\s*</artifactId>")
_GRADLE_DEP = re.compile(r"""["']([\w.-]+):([\w.-]+)(?::[^"']*)?["']""")
_SERVER_PORT = re.compile(r"^server\.port\s*[=:]\s*(\d{2,5})\s*$", re.MULTILINE)
_SERVER_PORT_YAML = re.compile(r"^server:\s*\n(?:\s+.*\n)*?\s+port:\s*(\d{2,5})", re.MULTILINE)
_CONFIG_FILES = (
    "src/main/resources/application.properties",
    "src/main/resources/application.yml",
    "src/main/resources/application.yaml",
)


def detect(app: AppDir) -> Detection | None:
    manifest = app.first("pom.xml", "build.gradle", "build.gradle.kts")
    if manifest is None:
        return None
    text = app.read(manifest) or ""
    maven = manifest == "pom.xml"
    found = Detection(language="java", package_manager="maven" if maven else "gradle")
    found.note("language", app.evidence(manifest, "Java build file"))
    found.note("package_manager", app.evidence(manifest, found.package_manager or ""))
    if maven:
        found.dependencies = {a.lower() for a in _ARTIFACT.findall(text)}
    else:
        found.dependencies = {artifact.lower() for _, artifact in _GRADLE_DEP.findall(text)}
    found.buildpacks = ["heroku/java", "heroku/procfile"]
    config_text = ""
    for name in _CONFIG_FILES:
        config = app.read(name)
        if config:
            config_text += config
            port = _SERVER_PORT.search(config) or _SERVER_PORT_YAML.search(config)
            if port:
                found.configured_port = int(port.group(1))
                found.note("port", app.evidence(name, f"server.port={port.group(1)}"))
    found.manifest_text = text + config_text
    if (
        "spring-boot-starter-web" in found.dependencies
        or "spring-boot-starter-webflux" in found.dependencies
    ):
        found.framework = "spring"
        found.note("framework", app.evidence(manifest, "spring-boot-starter-web"))
        found.start_command = "java -jar " + ("target/*.jar" if maven else "build/libs/*.jar")
        found.note("start_command", app.evidence(manifest, "Spring Boot executable jar"))
        if "spring-boot-starter-actuator" in found.dependencies:
            found.health_path = "/actuator/health"
            found.note("health_path", app.evidence(manifest, "spring-boot-starter-actuator"))
    found.is_web_app = found.framework is not None
    found.source_files = pick_sources(app, list(_CONFIG_FILES), ["src/main/java/*.java"], limit=8)
    return found
