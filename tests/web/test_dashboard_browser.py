"""The dashboard in a real browser: Debian's Chromium driven by playwright-core against
the local stack (`make test-web`). The journey itself is tests/web/journey.mjs; this
test starts the stack, runs it, and plays GitHub's side when the journey asks.

Screenshots of every page land in `.vmkit/web-artifacts/` (or $VMKIT_WEB_ARTIFACTS).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from vmkit_local.demo import _merge_onboarding_pr, push_commit
from vmkit_local.embedded import ROOT, EmbeddedConfig, build

pytestmark = [pytest.mark.e2e, pytest.mark.web]

OWNER, NAME = "webdev", "shop"
# Secret values the journey enters; none may come back in anything the dashboard serves.
# The Hetzner token is the simulator's own (the only one it accepts).
SECRET_CANARY = "db-canary-Zr5mB3yH6cJ0"
JOURNEY_TIMEOUT_S = 420


class GitHubSide:
    """What the journey asks for that only GitHub (or the repo's owner) does."""

    def __init__(self, cloud: Any, source: Path):
        self.cloud = cloud
        self.source = source

    def sign_in_as(self, login: str) -> None:
        self.cloud.github.signed_in_user = login

    def merge_onboarding_pr(self, repo: str) -> None:
        _merge_onboarding_pr(self.cloud, repo)

    def break_health_check(self, repo: str) -> None:
        app_py = (self.source / "app.py").read_text()
        broken = app_py.replace('if self.path == "/up":', 'if self.path == "/never-healthy":')
        assert broken != app_py
        push_commit(self.cloud, repo, "app.py", broken, "Break the health check")

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        what = request.pop("what")
        try:
            getattr(self, what)(**request)
        except Exception as error:  # reported to the journey, which fails with it
            return {"error": f"{type(error).__name__}: {error}"}
        return {"ok": True}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("vmkit-web")
    config = EmbeddedConfig(
        data_dir=data / "stack",
        state_file=None,
        agent_wait_seconds=30,
        workflow_wait_seconds=120,
        parameter_overrides={"LogLevel": "WARNING"},
    )
    stack, cloud = build(config)
    with stack:
        source = data / NAME
        shutil.copytree(ROOT / "examples" / "hello", source)
        cloud.github.add_user(OWNER)
        cloud.github.create_repo(OWNER, NAME, source_dir=source)
        yield stack, cloud, source


def test_the_dashboard_journey_in_chromium(stack):
    stack_, cloud, source = stack
    artifacts = Path(os.environ.get("VMKIT_WEB_ARTIFACTS", ROOT / ".vmkit" / "web-artifacts"))
    shutil.rmtree(artifacts, ignore_errors=True)
    env = {
        **os.environ,
        "VMKIT_REST_URL": stack_.app_urls["rest"],
        "VMKIT_WEB_REPO": f"{OWNER}/{NAME}",
        "VMKIT_WEB_ARTIFACTS": str(artifacts),
        "VMKIT_WEB_CANARIES": json.dumps({"token": cloud.hetzner_token, "secret": SECRET_CANARY}),
    }
    github = GitHubSide(cloud, source)
    journey = subprocess.Popen(
        ["node", str(Path(__file__).with_name("journey.mjs"))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    transcript = []
    try:
        for line in journey.stdout:
            if line.startswith("@@ask "):
                reply = github.answer(json.loads(line.removeprefix("@@ask ")))
                journey.stdin.write(json.dumps(reply) + "\n")
                journey.stdin.flush()
            else:
                transcript.append(line.rstrip())
                print(line.rstrip(), flush=True)
        code = journey.wait(timeout=JOURNEY_TIMEOUT_S)
    finally:
        if journey.poll() is None:
            journey.kill()
            journey.wait()
    assert code == 0, "\n".join(transcript[-60:])
    assert sorted(p.name for p in artifacts.glob("*.png"))[:2] == [
        "01-login.png",
        "02-overview-empty.png",
    ]
