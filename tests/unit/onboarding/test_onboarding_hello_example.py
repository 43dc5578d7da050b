"""examples/hello, the app `make demo` deploys: it must serve / and /up on $PORT."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request

from conftest import HELLO


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def run_hello(env_overrides: dict[str, str], cwd=HELLO):
    env = {**os.environ, "PORT": "0", **env_overrides}
    if "APP_VERSION" not in env_overrides:
        env.pop("APP_VERSION", None)
    process = subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()  # blocks until the server is listening
    assert line.startswith("Listening on :"), line
    return process, int(line.strip().rsplit(":", 1)[1])


def stop(process):
    process.terminate()
    process.wait(timeout=10)
    process.stdout.close()


def test_hello_serves_its_version_and_health_on_port():
    process, port = run_hello({})
    try:
        version = (HELLO / "VERSION").read_text().strip()
        assert get(port, "/") == (200, f"Hello from VMKit! version {version}\n")
        assert get(port, "/up") == (200, "OK\n")
        assert get(port, "/nope")[0] == 404
    finally:
        stop(process)


def test_app_version_from_the_environment_wins_over_the_file():
    process, port = run_hello({"APP_VERSION": "2.0.0-canary"})
    try:
        assert get(port, "/") == (200, "Hello from VMKit! version 2.0.0-canary\n")
    finally:
        stop(process)


def test_hello_declares_itself_to_buildpacks_as_python_with_a_web_process():
    assert (HELLO / "Procfile").read_text() == "web: python app.py\n"
    assert (HELLO / "requirements.txt").exists()
    assert "python app.py" in (HELLO / "README.md").read_text()
