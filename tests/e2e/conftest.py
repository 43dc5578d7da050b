"""The embedded local stack, started once for the e2e session, driven like a user would.

e2e tests run in their own pytest process (`make test` runs them after the rest): the
stack's functions run inside the test process and share its environment, which the
moto-based unit tests also set.
"""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from vmkit_local.embedded import ROOT, CloudStandIns, EmbeddedConfig, build
from vmkit_local.testing import StackProcess

SAMPLE_APP = ROOT / "examples" / "hello"

# A runner may start the suite with SIGINT ignored (a background job of a
# non-interactive shell does), and an ignored signal stays ignored in every child: the
# CLI's Ctrl-C tests need theirs to get it. A handled signal is reset at exec.
signal.signal(signal.SIGINT, signal.default_int_handler)
TERMINAL = {"succeeded", "failed", "cancelled"}


@dataclass
class Local:
    stack: Any
    cloud: CloudStandIns
    api: httpx.Client
    target_id: str
    _repos: int = field(default=0)

    def new_app(
        self, tmp_path: Path, name: str | None = None, target_id: str | None = None
    ) -> dict[str, Any]:
        """A repo holding the sample app, connected, with a `production` environment
        (on the `local` compute target unless `target_id` names another)."""
        self._repos += 1
        name = name or f"app{self._repos}"
        source = tmp_path / name
        shutil.copytree(SAMPLE_APP, source)
        repo = self.cloud.github.create_repo("acme", name, source_dir=source)
        connected = ok(
            self.api.post(
                "/api/repos",
                json={
                    "full_name": repo.full_name,
                    "installation_id": self.cloud.github.installation_id("acme"),
                },
            )
        )
        env = ok(
            self.api.post(
                "/api/environments",
                json={
                    "repo_id": connected["id"],
                    "name": "production",
                    "compute_target_id": target_id or self.target_id,
                },
            )
        )
        return {"repo": repo, "repo_id": connected["id"], "env": env, "source": source}

    def deploy(self, env_id: str) -> dict[str, Any]:
        return ok(self.api.post(f"/api/environments/{env_id}/deploys", json={}))

    def wait(
        self,
        deploy_id: str,
        until: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 90,
    ) -> dict[str, Any]:
        """Poll the deploy (as a client would) until `until` holds, by default until it ends."""
        until = until or (lambda d: d["status"] in TERMINAL)
        deadline = time.monotonic() + timeout
        while True:
            deploy = ok(self.api.get(f"/api/deploys/{deploy_id}"))
            if until(deploy):
                return deploy
            if deploy["status"] in TERMINAL or time.monotonic() > deadline:
                raise AssertionError(f"deploy ended or stalled before the expected state: {deploy}")
            time.sleep(0.2)

    def merge_onboarding_pr(self, full_name: str) -> None:
        from vmkit_local.demo import _merge_onboarding_pr

        _merge_onboarding_pr(self.cloud, full_name)

    def deploy_until_done(self, app: dict[str, Any]) -> dict[str, Any]:
        """A deploy through onboarding (merging the PR when it opens) to its end."""
        deploy = self.deploy(app["env"]["id"])
        waiting = self.wait(
            deploy["id"],
            lambda d: (d["status"] == "waiting_for_pr" and _pr_open(d)) or d["status"] in TERMINAL,
        )
        if waiting["status"] == "waiting_for_pr":
            self.merge_onboarding_pr(app["repo"].full_name)
        return self.wait(deploy["id"])

    def get_app(self, url: str) -> httpx.Response:
        from vmkit_local.demo import _get_app

        return _get_app(url)


def _pr_open(deploy: dict[str, Any]) -> bool:
    return bool(deploy["steps"]) and "/pull/" in (deploy["steps"][-1].get("detail") or "")


def ok(response: httpx.Response) -> Any:
    assert response.status_code < 400, (
        f"{response.request.method} {response.request.url}: {response.text}"
    )
    return response.json() if response.content else None


@pytest.fixture(autouse=True)
def _no_stack_process_left():
    """A test that fails between starting a stack process and stopping it leaves none."""
    before = StackProcess.running()
    yield
    StackProcess.kill_leftovers(keep=before)


@pytest.fixture(scope="session")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    config = EmbeddedConfig(
        data_dir=tmp_path_factory.mktemp("vmkit-e2e"),
        state_file=None,
        agent_wait_seconds=12,
        workflow_wait_seconds=60,
        parameter_overrides={"LogLevel": "WARNING"},
    )
    stack, cloud = build(config)
    with stack:
        api = httpx.Client(
            base_url=stack.app_urls["rest"],
            timeout=30,
            headers={"Authorization": f"Bearer {stack.local_json['api_key']}"},
        )
        target = ok(
            api.post("/api/compute-targets", json={"name": "this machine", "provider": "local"})
        )
        # The local workspace holds the App's installation on `acme`, whose repos the
        # tests create (the tenancy tests claim others through GitHub sign-in).
        cloud.connect_account("acme", ok(api.get("/api/auth/me"))["workspace_id"])
        yield Local(stack, cloud, api, target["id"])
        api.close()
