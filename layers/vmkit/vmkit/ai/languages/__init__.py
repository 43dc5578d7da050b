"""One detector per language; each looks at one directory and returns a Detection."""

from vmkit.ai.languages import go, java, node, python, ruby, rust, static

#: In priority order: when a directory matches several (a Rails app with a
#: package.json for its assets), the first wins, as the buildpacks' own order does.
DETECTORS = (ruby.detect, python.detect, java.detect, go.detect, rust.detect, node.detect)
STATIC_DETECTOR = static.detect

#: What the scanner looks for, for the error a repo without an app gets.
LOOKED_FOR = {
    "Python": ["requirements.txt", "pyproject.toml", "Pipfile"],
    "Node.js": ["package.json"],
    "Ruby": ["Gemfile"],
    "Go": ["go.mod"],
    "Rust": ["Cargo.toml"],
    "Java": ["pom.xml", "build.gradle", "build.gradle.kts"],
    "static site": ["index.html", "public/index.html"],
    "container": ["Dockerfile"],
}
MANIFEST_NAMES = frozenset(n for names in LOOKED_FOR.values() for n in names if "/" not in n)
