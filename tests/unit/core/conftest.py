"""The core against fakes: real store and sealer (moto in-process), fake outside world.

`core` is one workspace with a Hetzner target, a connected repo and a `production`
environment, and `Deps` whose compute, DNS, forge, executions, agent channel and
artifacts are the dict-backed fakes of `tests/support/fakes.py`. Steps run through
their Lambda adapter (`lambda_step`), as the state machine calls them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from tests.support.events import LambdaContext
from tests.support.fakes import (
    FakeAgentChannel,
    FakeArtifacts,
    FakeCompute,
    FakeDns,
    FakeExecutions,
    FakeForge,
)
from vmkit import agentrpc
from vmkit.auth import Principal
from vmkit.deps import Deps
from vmkit.handlers.steps import lambda_step
from vmkit.models import (
    Deploy,
    DeployAction,
    Environment,
    Instance,
    Interface,
    Provider,
    Scope,
)
from vmkit.schemas import ComputeTargetCreate, DeployCreate, EnvironmentCreate, RepoCreate
from vmkit.services import (
    compute_targets,
    deploys,
    environments,
    github_webhooks,
    installations,
    orchestration,
    repos,
    workspaces,
)
from vmkit.settings import get_settings


@dataclass
class Core:
    deps: Deps
    compute: FakeCompute
    dns: FakeDns
    forge: FakeForge
    executions: FakeExecutions
    agents: FakeAgentChannel
    artifacts: FakeArtifacts
    principal: Principal
    environment_id: str

    # --- records ---------------------------------------------------------------------

    def env(self) -> Environment:
        return self.deps.store.get(Environment, self.principal.workspace_id, self.environment_id)

    def deploy(self, deploy_id: str) -> Deploy:
        return self.deps.store.get(Deploy, self.principal.workspace_id, deploy_id)

    def instance(self) -> Instance:
        env = self.env()
        assert env.instance_id, "the environment has no VM yet"
        return self.deps.store.get(Instance, env.workspace_id, env.instance_id)

    # --- driving ---------------------------------------------------------------------

    def start(self, action: DeployAction = DeployAction.deploy) -> Deploy:
        return deploys.start_deploy(
            self.deps, self.principal, self.environment_id, DeployCreate(), action=action
        )

    def begin(self, action: DeployAction = DeployAction.deploy) -> Deploy:
        """A deploy that started and ran its first step (it is `running`)."""
        deploy = self.start(action)
        self.step("LoadContext", deploy)
        return deploy

    def step(
        self, name: str, deploy: Deploy, *, token: str | None = None, error: Any = None
    ) -> dict[str, Any]:
        """Run one state's Lambda handler on the deploy, as Step Functions would."""
        fn = getattr(orchestration, _FUNCTIONS[name])
        handler = lambda_step(name, fn, deps_for=lambda: self.deps)
        event: dict[str, Any] = {"deploy_id": deploy.id, "workspace_id": deploy.workspace_id}
        if token:
            event["task_token"] = token
        if error is not None:
            event["error"] = error
        return handler(event, LambdaContext())

    def connect_agent(self, connection_id: str = "conn-1", version: str = "0.1.0") -> None:
        """The VM's agent dials in and registers, as the WebSocket routes would report it."""
        instance = self.instance()
        agentrpc.remember_connection(
            self.deps,
            connection_id,
            instance_id=instance.id,
            workspace_id=instance.workspace_id,
        )
        register = {"version": version, "instance_id": instance.id}
        agentrpc.receive(
            self.deps,
            connection_id,
            json.dumps({"type": "event", "method": "register", "params": register}),
        )

    def reply(self, connection_id: str, call: dict[str, Any], result: dict[str, Any]) -> None:
        agentrpc.receive(
            self.deps,
            connection_id,
            json.dumps({"id": call["id"], "type": "result", "result": result}),
        )


_FUNCTIONS = {
    "LoadContext": "load_context",
    "CheckOnboarding": "check_onboarding",
    "OpenOnboardingPR": "open_onboarding_pr",
    "DestroyInstance": "destroy_instance",
    "ResizeInstance": "resize_instance",
    "EnsureInstance": "ensure_instance",
    "WaitForAgent": "wait_for_agent",
    "HardenInstance": "harden_instance",
    "EnsureDNS": "ensure_dns",
    "EnsureDeploySecrets": "ensure_deploy_secrets",
    "DispatchWorkflow": "dispatch_workflow",
    "MarkSucceeded": "mark_succeeded",
    "MarkFailed": "mark_failed",
    "DeleteDNS": "delete_dns",
    "DeleteDeploySecrets": "delete_deploy_secrets",
}


@pytest.fixture
def core(aws, configure, github) -> Core:
    configure(AGENT_GATEWAY_URL="wss://agents.example.test/agents")
    fakes = {
        "compute": FakeCompute(),
        "dns": FakeDns(),
        "forge": FakeForge(),
        "executions": FakeExecutions(),
        "agents": FakeAgentChannel(),
        "artifacts": FakeArtifacts(),
    }
    deps = Deps(
        get_settings(),
        compute=lambda target: fakes["compute"],
        dns=lambda: fakes["dns"],
        forge=lambda repo: fakes["forge"],
        executions=fakes["executions"],
        agents=fakes["agents"],
        artifacts=fakes["artifacts"],
        github=github,
    )
    workspace, _ = workspaces.bootstrap_workspace(deps, "acme")
    installations.claim_as_operator(deps, workspace.id, 7)
    admin = Principal(workspace.id, "key:admin", Scope.admin, Interface.rest, key_id="admin")
    target = compute_targets.create_target(
        deps,
        admin,
        ComputeTargetCreate(name="hetzner", provider=Provider.hetzner, token="hz-token-000000"),
    )
    repo = repos.connect_repo(deps, admin, RepoCreate(full_name="acme/invoicer", installation_id=7))
    env = environments.create_environment(
        deps,
        admin,
        EnvironmentCreate(
            repo_id=repo.id,
            name="production",
            compute_target_id=target.id,
            env_vars=[
                {"name": "MODE", "value": "prod"},
                {"name": "STRIPE_KEY", "value": "sk_live_CANARY", "secret": True},
            ],
        ),
    )
    return Core(deps=deps, principal=admin, environment_id=env.id, **fakes)


WEBHOOK_SECRET = "webhook-secret-for-tests"


@pytest.fixture
def signed(core, configure):
    """Deliver a GitHub webhook signed with the App's secret; returns what it did."""
    boto3.client("ssm").put_parameter(
        Name="/vmkit/webhook", Value=WEBHOOK_SECRET, Type="SecureString"
    )
    core.deps.settings = core.deps.settings.model_copy(
        update={"github_webhook_secret_parameter": "/vmkit/webhook"}
    )
    counter = iter(range(1, 10_000))

    def deliver(event: str, payload: Any, delivery: str | None = None, raw: bytes | None = None):
        body = raw if raw is not None else json.dumps(payload).encode()
        signature = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "x-hub-signature-256": signature,
            "x-github-event": event,
            "x-github-delivery": delivery or f"delivery-{next(counter)}",
        }
        return github_webhooks.handle(core.deps, headers, body)

    return deliver


def repository(core, full_name: str = "acme/invoicer") -> dict[str, Any]:
    """The repo as GitHub names it in webhooks."""
    from vmkit.models import Repo

    repo = core.deps.store.get(Repo, core.principal.workspace_id, core.env().repo_id)
    return {"id": repo.github_repo_id, "full_name": full_name}


def run_payload(
    core, deploy, conclusion: str = "success", full_name: str = "acme/invoicer", run_id: int = 99
) -> dict[str, Any]:
    return {
        "action": "completed",
        "workflow_run": {
            "id": run_id,
            "name": f"vmkit deploy {deploy.id}",
            "display_title": f"vmkit deploy {deploy.id}",
            "status": "completed",
            "conclusion": conclusion,
            "html_url": f"https://github.com/acme/invoicer/actions/runs/{run_id}",
        },
        "repository": repository(core, full_name),
        "installation": {"id": 7},
    }


def waiting_for_run(core):
    """A deploy that dispatched its workflow and waits for the run (token `tok-run`)."""
    core.forge.tree[".github/workflows/vmkit-deploy.yml"] = "on: workflow_dispatch\n"
    deploy = core.begin()
    core.step("EnsureInstance", deploy)
    core.connect_agent()
    core.step("DispatchWorkflow", deploy, token="tok-run")
    return deploy
