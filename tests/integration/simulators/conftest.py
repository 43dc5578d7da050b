"""Serve simulator apps on free ports; a webhook receiver; a GitHub simulator with an App."""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import subprocess
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from githubkit import AppAuthStrategy, GitHub
from githubkit.cache import MemCacheStrategy
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vmkit_local.simulators.github import CreatedRepo, GitHubSimulator
from vmkit_local.simulators.serving import serve_in_thread

WEBHOOK_SECRET = "webhook-secret-for-tests"
DEPLOY_WORKFLOW = """\
name: VMKit deploy
run-name: "VMKit deploy ${{ inputs.deploy_id }} to ${{ inputs.environment }}"
on:
  workflow_dispatch:
    inputs:
      deploy_id:
        description: VMKit deploy id
        required: true
      environment:
        type: choice
        options: [production, staging]
        default: production
      dry_run:
        type: boolean
        default: false
jobs:
  deploy:
    name: Build and deploy
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: kamal deploy
"""
SHOP_FILES = {
    "README.md": "# shop\n",
    "app.py": "print('hello')\n",
    ".github/workflows/vmkit-deploy.yml": DEPLOY_WORKFLOW,
}


@pytest.fixture
def serve() -> Iterator[Callable[[Any], str]]:
    """`serve(app) -> base_url`; every server started is stopped after the test."""
    stops = []

    def start(app: Any) -> str:
        url, stop = serve_in_thread(app)
        stops.append(stop)
        return url

    yield start
    with ThreadPoolExecutor() as pool:  # each stop waits for uvicorn's 0.1 s tick
        list(pool.map(lambda stop: stop(), stops))


@dataclass
class Received:
    event: str
    delivery: str
    headers: dict[str, str]
    body: bytes

    def signature_verifies(self, secret: str = WEBHOOK_SECRET) -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.headers.get("x-hub-signature-256", ""))


@dataclass
class WebhookReceiver:
    """Stands in for VMKit's webhook endpoint; records what arrives, in order."""

    url: str = ""
    status: int = 204
    arrived: queue.Queue = field(default_factory=queue.Queue)

    def next(self, timeout: float = 10.0) -> Received:
        return self.arrived.get(timeout=timeout)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            headers = {key.lower(): value for key, value in request.headers.items()}
            self.arrived.put(
                Received(
                    headers["x-github-event"],
                    headers["x-github-delivery"],
                    headers,
                    await request.body(),
                )
            )
            return Response(status_code=self.status)

        return Starlette(routes=[Route("/api/webhooks/github", hook, methods=["POST"])])


@pytest.fixture
def webhooks(serve) -> WebhookReceiver:
    receiver = WebhookReceiver()
    receiver.url = serve(receiver.app()) + "/api/webhooks/github"
    return receiver


@dataclass
class RunCall:
    run: dict[str, Any]
    files: dict[str, bytes]
    head: str
    secrets: dict[str, str]


class RecordingRunner:
    """A `run_workflow` hook that records what the run was given."""

    def __init__(self) -> None:
        self.calls: list[RunCall] = []
        self.conclusion = "success"
        self.error: Exception | None = None
        self.gate: threading.Event | None = None
        """When set, a run waits for it before it concludes (a test acts meanwhile)."""

    def __call__(self, run, checkout_dir: Path, secrets: dict[str, str]) -> tuple[str, str]:
        files = {
            path.relative_to(checkout_dir).as_posix(): path.read_bytes()
            for path in checkout_dir.rglob("*")
            if path.is_file() and ".git" not in path.relative_to(checkout_dir).parts
        }
        head = subprocess.run(
            ["git", "-C", str(checkout_dir), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        self.calls.append(RunCall(dict(run), files, head, dict(secrets)))
        if self.gate is not None and not self.gate.wait(30):
            raise TimeoutError("the test never opened the gate")
        if self.error is not None:
            raise self.error
        key = secrets.get("VMKIT_SSH_PRIVATE_KEY", "-")
        return self.conclusion, f"deploying {run['name']}\nusing key {key}\ndone\n"


@pytest.fixture
def runner() -> RecordingRunner:
    return RecordingRunner()


@pytest.fixture
def github(tmp_path, webhooks, runner) -> Iterator[GitHubSimulator]:
    sim = GitHubSimulator(
        data_dir=tmp_path,
        webhook_url=webhooks.url,
        webhook_secret=WEBHOOK_SECRET,
        run_workflow=runner,
    )
    yield sim
    sim.close()


@pytest.fixture
def github_url(github, serve) -> str:
    return serve(github.app)


@pytest.fixture
def shop(github, webhooks) -> CreatedRepo:
    """acme/shop, with the App installed on acme (whose `installation` created webhook
    is taken off the receiver, so a test's next delivery is the one it caused)."""
    repo = github.create_repo("acme", "shop", SHOP_FILES)
    installed = webhooks.next()
    assert (installed.event, json.loads(installed.body)["action"]) == ("installation", "created")
    return repo


@pytest.fixture
def app_client(github, github_url) -> GitHub:
    """githubkit as the App. Its default token cache is process-wide and keyed by app id,
    so each test's client gets its own: every test's simulator has a new App key."""
    auth = AppAuthStrategy(str(github.app_id), github.app_private_key_pem)
    return GitHub(auth, base_url=github_url, cache_strategy=MemCacheStrategy())


@pytest.fixture
def gh(app_client, github, shop) -> GitHub:
    """githubkit acting as the App's installation on acme (the way VMKit works)."""
    return app_client.with_auth(app_client.auth.as_installation(github.installation_id("acme")))
