"""The scan of each sample app: language, framework, start, port, health, services."""

from __future__ import annotations

import json

import pytest
from conftest import APPS, scan_app

from vmkit.ai.repo_files import LocalCheckout
from vmkit.ai.repo_scanner import scan
from vmkit.errors import InvalidInput

# name: (language, framework, package manager, start command, port, health path,
#        services, env vars (name -> secret?), buildpacks can build it, app path)
EXPECTED = {
    "python-django": (
        "python", "django", "pip", "gunicorn mysite.wsgi --bind 0.0.0.0:8000", 8000, "/healthz/",
        ["postgres"], {"ALLOWED_HOSTS": False, "DATABASE_URL": True, "DJANGO_SECRET_KEY": True},
        True, ".",
    ),
    "python-flask": (
        "python", "flask", "pipenv", "gunicorn app:app --bind 0.0.0.0:8000", 8000, "/health",
        ["redis"], {"REDIS_URL": True}, True, ".",
    ),
    "python-fastapi": (
        "python", "fastapi", "uv", "uvicorn app.main:api --host 0.0.0.0 --port 8000", 8000,
        "/healthz", ["postgres"], {"DATABASE_URL": True, "OPENAI_API_KEY": True}, True, ".",
    ),
    "node-express": (
        "node", "express", "npm", "npm start", 4000, "/health", ["postgres"],
        {"DATABASE_URL": True, "SESSION_SECRET": True}, True, ".",
    ),
    "node-nextjs": (
        "node", "nextjs", "pnpm", "pnpm start", 3000, "/api/health", [],
        {"NEXT_PUBLIC_API_URL": False}, True, ".",
    ),
    "node-remix": (
        "node", "remix", "yarn", "yarn start", 3000, "/healthcheck", ["redis"],
        {"REDIS_URL": True}, True, ".",
    ),
    "ruby-rails": (
        "ruby", "rails", "bundler", "bin/rails server", 3000, "/up", ["postgres", "redis"],
        {"GREETING": False, "REDIS_URL": True, "SECRET_KEY_BASE": True}, True, ".",
    ),
    "go-gin": (
        "go", "gin", "go modules", "pinger", 8081, "/healthz", ["redis"], {"REDIS_ADDR": False},
        True, ".",
    ),
    "rust-axum": (
        "rust", "axum", "cargo", "./ferris-api", 8080, "/health", ["postgres"],
        {"DATABASE_URL": True}, False, ".",
    ),
    "java-spring": (
        "java", "spring", "maven", "java -jar target/*.jar", 8081, "/actuator/health",
        ["postgres"], {"DATABASE_URL": True, "DB_PASSWORD": True}, True, ".",
    ),
    "static-site": ("static", None, None, "nginx", 8080, "/", [], {}, False, "."),
    "monorepo": (
        "node", "nextjs", "npm", "npm start", 3000, "/api/health", [], {}, True, "apps/web",
    ),
    "with-dockerfile": (
        "go", None, "go modules", "greeter", 9000, "/up", [], {"GREETING": False}, True, ".",
    ),
    "hello": (
        "python", None, "pip", "python app.py", 8080, "/up", [], {"APP_VERSION": False}, True, ".",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_scan_recognizes_each_sample_app(name):
    lang, framework, manager, start, port, health, services, env, buildable, path = EXPECTED[name]

    result = scan_app(name)

    assert (result.language, result.framework, result.package_manager) == (lang, framework, manager)
    assert result.start_command == start
    assert (result.port, result.health_path) == (port, health)
    assert [s.name for s in result.services] == services
    assert {v.name: v.secret for v in result.env_vars} == env
    assert result.buildpacks.buildable is buildable
    assert result.app_path == path


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_conclusion_names_the_file_it_came_from(name):
    result = scan_app(name)

    for conclusion in ("language", "port", "health_path", "buildpacks"):
        assert result.evidence[conclusion], f"{conclusion} has no evidence"
    files = set(LocalCheckout(APPS / name).list_paths()) if name != "hello" else None
    for items in result.evidence.values():
        for item in items:
            assert item.found
            if files is not None and "." in item.file.rsplit("/", 1)[-1]:
                assert item.file in files, f"evidence points at a missing file {item.file}"
    for need in [*result.services, *result.env_vars]:
        assert need.evidence


def test_buildable_apps_get_a_builder_with_arm64_images_and_the_languages_buildpack():
    result = scan_app("python-django")

    assert result.buildpacks.builder == "heroku/builder:24"
    assert result.buildpacks.buildpacks == ["heroku/python", "heroku/procfile"]


def test_python_without_procfile_gets_a_run_command_because_the_buildpack_has_no_web_process():
    assert scan_app("python-django").run_command == "gunicorn mysite.wsgi --bind 0.0.0.0:8000"
    # A Procfile's web process is the image's default: nothing to pass.
    assert scan_app("hello").run_command is None


def test_the_apps_own_dockerfile_is_used_and_its_exposed_port_wins():
    result = scan_app("with-dockerfile")

    assert result.dockerfile == "Dockerfile"
    assert result.needs_generated_dockerfile is False
    assert result.evidence["port"][0].found == "EXPOSE 9000"


def test_monorepo_picks_the_web_app_and_says_why_not_the_others():
    result = scan_app("monorepo")

    others = {o.path: o.why_not_chosen for o in result.other_apps}
    assert set(others) == {".", "packages/ui", "tools/seed"}
    assert "workspace root" in others["."]
    assert "library" in others["packages/ui"]
    assert result.evidence["package_manager"][0].file == "package-lock.json"


def test_app_path_chooses_another_app_of_a_monorepo():
    result = scan(LocalCheckout(APPS / "monorepo"), app_path="tools/seed")

    assert (result.language, result.app_path) == ("python", "tools/seed")


def test_two_deployable_apps_rank_deterministically_and_the_other_is_reported(app_copy):
    root = app_copy("monorepo")
    api = root / "apps" / "api"
    api.mkdir()
    (api / "package.json").write_text(
        '{"scripts": {"start": "node x.js"}, "dependencies": {"express": "4"}}'
    )

    result = scan(LocalCheckout(root))

    assert result.app_path == "apps/api"  # both rank equal: the first by path wins
    assert "pass app_path" in {o.path: o.why_not_chosen for o in result.other_apps}["apps/web"]


def test_repo_without_an_app_gets_an_error_listing_what_was_looked_for():
    with pytest.raises(InvalidInput) as raised:
        scan(LocalCheckout(APPS / "no-app"))

    error = raised.value
    assert error.code == "no_app_found"
    for expected in (
        "requirements.txt",
        "package.json",
        "Gemfile",
        "go.mod",
        "Cargo.toml",
        "pom.xml",
    ):
        assert expected in error.message
    assert "Dockerfile" in error.message
    assert error.details["files_seen"] == 3


def test_app_path_outside_the_repo_is_refused():
    with pytest.raises(InvalidInput, match="not a path inside the repository"):
        scan(LocalCheckout(APPS / "monorepo"), app_path="../python-django")


def test_app_path_without_an_app_says_so():
    with pytest.raises(InvalidInput, match="No deployable app found in 'packages/none'"):
        scan(LocalCheckout(APPS / "monorepo"), app_path="packages/none")


def test_values_in_a_committed_env_file_never_reach_the_scan_result(app_copy):
    root = app_copy("python-flask")
    canary = "canary-7f3e9a1c-super-secret"
    (root / ".env").write_text(f"REDIS_URL=redis://:{canary}@cache:6379\nSTRIPE_API_KEY={canary}\n")

    result = scan(LocalCheckout(root))

    assert {"REDIS_URL", "STRIPE_API_KEY"} <= {v.name for v in result.env_vars}
    assert canary not in result.model_dump_json()


def test_index_html_inside_an_app_is_a_page_not_another_app():
    # python-flask has templates/index.html
    assert scan_app("python-flask").other_apps == []


class CountingFiles:
    """A RepoFiles that counts reads, over a huge synthetic repo."""

    def __init__(self, paths: dict[str, str]):
        self.paths = paths
        self.reads = 0

    def list_paths(self):
        return sorted(self.paths)

    def read_text(self, path, max_bytes=256 * 1024):
        self.reads += 1
        return self.paths.get(path)


def test_a_scan_reads_a_bounded_number_of_files_whatever_the_repo_size():
    paths = {f"services/svc{i}/package.json": '{"scripts": {"start": "x"}}' for i in range(50)}
    paths |= {f"services/svc0/src/file{i}.js": "process.env.A" for i in range(500)}
    files = CountingFiles(paths)

    result = scan(files)

    assert files.reads <= 40
    assert result.language == "node"


def test_unparseable_manifests_do_not_crash_the_scan(app_copy):
    root = app_copy("node-express")
    (root / "package.json").write_text("{not json")

    result = scan(LocalCheckout(root))

    assert (result.language, result.framework) == ("node", None)


def test_scan_result_round_trips_through_json():
    result = scan_app("ruby-rails")

    again = type(result).model_validate(json.loads(result.model_dump_json()))

    assert again == result
