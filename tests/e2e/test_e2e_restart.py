"""The embedded stack killed with SIGKILL at each waiting step of a deploy, then restarted
on the same data directory, as a user whose machine crashed would find it.

The stack runs in a child process (`tests/e2e/restartable_stack.py`), reached only
through its URLs, as `vmkit local up` would be. After each kill: no acknowledged write
is lost, no process of the old stack is left, the deploy ended failed with the reason,
no VM is orphaned, and a new deploy of the same environment succeeds on the VM it
already had. Then agents of existing VMs come back after a clean restart and after a
crash, on their own; and start-up survives a bootstrap record naming what is gone.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import SAMPLE_APP, TERMINAL
from vmkit_local.embedded import ROOT
from vmkit_local.testing import StackProcess, wait_for

pytestmark = pytest.mark.e2e

RESTARTED = "the control plane restarted during this deploy; deploy again"
# What the child must not inherit from a stack running in this test process.
_NOT_INHERITED = ("AWS_", "VMKIT_", "MOTO_")


class Restartable:
    """One data directory, and the stack process currently running on it."""

    def __init__(self, root: Path, sweep_every_s: float | None = None):
        self.root = root
        self.sweep_every_s = sweep_every_s
        self.data = root / "data"
        self.stack: StackProcess | None = None
        self.starts = 0

    # --- the process ----------------------------------------------------------------

    def start(self) -> StackProcess:
        self.starts += 1
        stack = StackProcess(
            self.root,
            command=[sys.executable, "-m", "tests.e2e.restartable_stack", str(self.data),
                     str(self.root / "local.json"),
                     *([str(self.sweep_every_s)] if self.sweep_every_s else [])],
        )  # fmt: skip
        stack.environment = {
            key: value for key, value in os.environ.items() if not key.startswith(_NOT_INHERITED)
        } | {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        self.stack = stack.start(timeout=180)
        return self.stack

    def kill(self) -> None:
        """SIGKILL, then wait until every process the stack had started is gone."""
        assert self.stack is not None
        before = descendants(self.stack.pid)
        assert before, "the stack had started no process (no VM, no reaper?)"
        self.stack.stop(signal.SIGKILL)
        wait_for(
            lambda: not [pid for pid in before if alive(pid)],
            timeout=30,
            what="every process of the killed stack to end",
        )
        self.stack = None

    def restart_cleanly(self) -> None:
        assert self.stack is not None
        assert self.stack.stop() == 0, self.stack.log()[-3000:]
        self.start()

    # --- as a user --------------------------------------------------------------------

    @property
    def api(self) -> httpx.Client:
        assert self.stack is not None
        return httpx.Client(
            base_url=self.stack.state["rest_url"],
            timeout=60,
            headers={"Authorization": f"Bearer {self.stack.state['api_key']}"},
        )

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        with self.api as api:
            response = api.request(method, path, **kwargs)
        assert response.status_code < 400, f"{method} {path}: {response.text}"
        return response.json() if response.content else None

    def deploy(self, env_id: str) -> dict[str, Any]:
        return self.call("POST", f"/api/environments/{env_id}/deploys", json={})

    def deploy_record(self, deploy_id: str) -> dict[str, Any]:
        return self.call("GET", f"/api/deploys/{deploy_id}")

    def wait_deploy(
        self, deploy_id: str, until: Callable[[dict[str, Any]], bool], timeout: float = 180
    ) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            deploy = self.deploy_record(deploy_id)
            if until(deploy):
                return deploy
            assert deploy["status"] not in TERMINAL, f"ended early: {deploy}"
            return None

        return wait_for(reached, timeout=timeout, interval=0.2, what=f"deploy {deploy_id}")

    def instance(self, instance_id: str) -> dict[str, Any]:
        return self.call("GET", f"/api/instances/{instance_id}")

    # --- as the world around it ----------------------------------------------------------

    def hold_resumes(self, what: str) -> None:
        """Hold the resumption of the `what` wait at the endpoint (restartable_stack)."""
        (self.data / "hold-resumes.held").unlink(missing_ok=True)
        (self.data / "hold-resumes").write_text(what)

    def wait_until_held(self) -> None:
        wait_for((self.data / "hold-resumes.held").exists, timeout=180, what="a held resume")

    def release_resumes(self) -> None:
        (self.data / "hold-resumes").unlink(missing_ok=True)

    def servers(self) -> list[dict[str, Any]]:
        assert self.stack is not None
        token = json.loads((self.data / "tokens.json").read_text())["hetzner"]
        answer = httpx.get(
            f"{self.stack.state['hetzner_url']}/v1/servers",
            headers={"Authorization": f"Bearer {token}"},
        )
        return answer.json()["servers"]

    def merge_onboarding_pr(self, github: Any, full_name: str) -> None:
        from githubkit import AppInstallationAuthStrategy, GitHub
        from githubkit.cache import MemCacheStrategy

        assert self.stack is not None
        owner, name = full_name.split("/")
        auth = AppInstallationAuthStrategy(
            str(github.app_id), github.app_private_key_pem, github.installation_id(owner)
        )
        # A cache of its own: another test's simulator handed out the same installation id.
        cache = MemCacheStrategy()
        with GitHub(auth, base_url=self.stack.state["github_url"], cache_strategy=cache) as client:
            pull = client.rest.pulls.list(owner, name, state="open").parsed_data[0]
            client.rest.pulls.merge(owner, name, pull.number, data={"merge_method": "merge"})


def descendants(pid: int) -> list[int]:
    """Every live process below `pid`, at any depth."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
                )
            except (OSError, ValueError):
                continue
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, of in parents.items() if of == parent]
        found += children
        frontier += children
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def restartable(tmp_path: Path) -> Iterator[Restartable]:
    world = Restartable(tmp_path)
    yield world
    if world.stack is not None:
        world.release_resumes()
        exit_code = world.stack.stop()
        assert exit_code == 0, world.stack.log()[-3000:]


def seeded_repo(data: Path, name: str) -> tuple[Any, str]:
    """The sample app in a repo with the App installed, put in the GitHub simulator's
    data before the stack first starts (the simulator has no API to create repos)."""
    from vmkit_local.simulators import GitHubSimulator

    github = GitHubSimulator(data_dir=data / "github")
    try:
        repo = github.create_repo("acme", name, source_dir=SAMPLE_APP)
    finally:
        github.close()
    return github, repo.full_name


def started_with_environment(world: Restartable, repo_name: str) -> tuple[Any, str, dict]:
    """A repo seeded before the first start, then a local target and `production`."""
    github, full_name = seeded_repo(world.data, repo_name)
    world.start()
    return github, full_name, new_environment(world, github, full_name, "production")


def new_environment(world: Restartable, github: Any, full_name: str, name: str) -> dict:
    target = world.call(
        "POST", "/api/compute-targets", json={"name": f"this machine ({name})", "provider": "local"}
    )
    repo = world.call(
        "POST",
        "/api/repos",
        json={"full_name": full_name, "installation_id": github.installation_id("acme")},
    )
    return world.call(
        "POST",
        "/api/environments",
        json={"repo_id": repo["id"], "name": name, "compute_target_id": target["id"]},
    )


def assert_recovered(world: Restartable, deploy: dict, seen: dict, marker: str) -> None:
    """After the restart: the writes were kept, the deploy failed with the reason, and
    the only VMs are environments' VMs."""
    after = world.deploy_record(deploy["id"])
    assert after["status"] == "failed", after
    assert after["failure"]["reason"] == RESTARTED
    assert after["failure"]["step"] == seen["steps"][-1]["name"]
    # Every step the stack acknowledged before the kill is still recorded.
    assert [s["name"] for s in after["steps"][: len(seen["steps"])]] == [
        s["name"] for s in seen["steps"]
    ]
    env = world.call("GET", f"/api/environments/{deploy['environment_id']}")
    assert env["active_deploy_id"] is None
    assert {"name": "LAST_WRITE", "secret": False, "value": marker} in env["env_vars"]
    owned = (
        {world.instance(env["instance_id"])["provider_server_id"]} if env["instance_id"] else set()
    )
    assert {str(server["id"]) for server in world.servers()} == owned


def kill_at(world: Restartable, deploy: dict, status: str, marker: str) -> dict:
    """Wait for the deploy to wait at `status`, make one last write, and kill the stack."""
    seen = world.wait_deploy(
        deploy["id"],
        lambda d: d["status"] == status and (status != "waiting_for_pr" or pr_opened(d)),
    )
    world.call(
        "PATCH",
        f"/api/environments/{deploy['environment_id']}/env-vars",
        json={"set": [{"name": "LAST_WRITE", "value": marker}]},
    )  # acknowledged just before the crash
    world.kill()
    world.release_resumes()
    world.start()
    return seen


def test_a_deploy_killed_at_each_waiting_step_fails_with_the_reason_and_the_next_succeeds(
    restartable: Restartable,
):
    world = restartable
    github, full_name, env = started_with_environment(world, "crashy")

    # WaitForPRMerge: the onboarding PR is open, nobody merged it yet.
    deploy = world.deploy(env["id"])
    seen = kill_at(world, deploy, "waiting_for_pr", "pr")
    assert "/pull/" in seen["steps"][-1]["detail"]
    assert_recovered(world, deploy, seen, "pr")
    world.merge_onboarding_pr(github, full_name)  # the owner merges it meanwhile
    first_vm = succeeds(world, env["id"], reusing=None)

    # WaitForAgent (a reset, so a new VM's agent), HardenInstance, WaitForWorkflowRun:
    # what each waits for happened (the agent registered, the VM was hardened, the run
    # completed), and its resume is held at the endpoint when the stack is killed. Each
    # time the next deploy succeeds on the VM the environment has.
    vm = None
    for what in ("agent", "harden", "workflow"):
        world.hold_resumes(what)
        deploy = (
            world.call("POST", f"/api/environments/{env['id']}/reset")
            if what == "agent"
            else world.deploy(env["id"])
        )
        world.wait_until_held()
        seen = kill_at(world, deploy, f"waiting_for_{what}", what)
        assert_recovered(world, deploy, seen, what)
        vm = vm or world.call("GET", f"/api/environments/{env['id']}")["instance_id"]
        assert vm != first_vm  # the reset's VM
        wait_for_agent(world, vm)
        assert succeeds(world, env["id"], reusing=vm) == vm


def succeeds(world: Restartable, env_id: str, *, reusing: str | None) -> str:
    """A deploy of the environment succeeds (on the VM it has, if `reusing`), the app
    answers, and the only VM anywhere is the environment's; returns its instance id."""
    deploy = world.deploy(env_id)
    done = world.wait_deploy(deploy["id"], lambda d: d["status"] in TERMINAL)
    assert done["status"] == "succeeded", done
    steps = {s["name"]: s.get("detail") or "" for s in done["steps"]}
    if reusing:
        assert steps["EnsureInstance"].startswith(f"reusing {reusing}")
    instance_id = world.call("GET", f"/api/environments/{env_id}")["instance_id"]
    assert [str(s["id"]) for s in world.servers()] == [
        world.instance(instance_id)["provider_server_id"]
    ]
    assert get_app(done["url"]).status_code == 200
    return instance_id


def test_agents_of_existing_vms_reconnect_after_a_clean_restart_and_after_a_crash(
    restartable: Restartable,
):
    world = restartable
    github, full_name, env = started_with_environment(world, "steady")
    deploy = world.deploy(env["id"])
    world.wait_deploy(deploy["id"], lambda d: d["status"] == "waiting_for_pr" and pr_opened(d))
    world.merge_onboarding_pr(github, full_name)
    assert (
        world.wait_deploy(deploy["id"], lambda d: d["status"] in TERMINAL)["status"] == "succeeded"
    )
    instance_id = world.call("GET", f"/api/environments/{env['id']}")["instance_id"]
    ws_url = world.stack.state["ws_url"]

    for restart in (world.restart_cleanly, lambda: (world.kill(), world.start())):
        before = world.instance(instance_id)["last_seen_at"]
        restart()
        assert world.stack.state["ws_url"] == ws_url  # the URL in the agent's config
        back = wait_for(
            lambda: (
                (i := world.instance(instance_id))["agent_connected"]
                and i["last_seen_at"] != before  # noqa: B023 (used before the loop moves on)
                and i
            ),
            timeout=120,
            what="the agent to reconnect",
        )
        assert back["agent_connected"]
    again = world.deploy(env["id"])
    assert (
        world.wait_deploy(again["id"], lambda d: d["status"] in TERMINAL)["status"] == "succeeded"
    )


def pr_opened(deploy: dict) -> bool:
    return "/pull/" in (deploy["steps"][-1].get("detail") or "")


def wait_for_agent(world: Restartable, instance_id: str) -> None:
    wait_for(
        lambda: world.instance(instance_id)["agent_connected"],
        timeout=120,
        what=f"the agent of {instance_id} to connect",
    )


def get_app(url: str) -> httpx.Response:
    from vmkit_local.demo import _get_app

    return _get_app(url)


def test_start_up_survives_a_bootstrap_record_naming_what_the_state_never_held(
    restartable: Restartable,
):
    world = restartable
    world.data.mkdir(parents=True)
    record = world.data / "bootstrap.json"
    record.write_text('{"workspace_id": "ws_the_state_never_held", "key_id": "k')  # torn

    world.start()
    assert world.call("GET", "/api/auth/me")["scope"] == "admin"
    first_workspace = world.call("GET", "/api/auth/me")["workspace_id"]
    assert "does not parse; making a new local workspace" in world.stack.log()

    kept = json.loads(record.read_text())
    record.write_text(json.dumps({**kept, "key_id": "key_the_state_never_held"}))
    world.restart_cleanly()
    assert world.call("GET", "/api/auth/me")["workspace_id"] == first_workspace
    assert "names key key_the_state_never_held, which the state never held" in world.stack.log()

    record.write_text(json.dumps({"workspace_id": "ws_gone", "key_id": "key_gone"}))
    world.restart_cleanly()
    assert world.call("GET", "/api/auth/me")["scope"] == "admin"
    assert "names workspace ws_gone, which the state does not hold" in world.stack.log()
    assert "Traceback" not in world.stack.log()
