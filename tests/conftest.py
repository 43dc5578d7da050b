from __future__ import annotations

from dataclasses import dataclass

import boto3
import pytest
from fastapi.testclient import TestClient
from moto import mock_aws

import vmkit.deps
from tests.support.fakes import FakeClouds, FakeGitHubApp
from tests.support.template import create_state_machines, create_table
from vmkit import warm
from vmkit.rest import create_app
from vmkit.services import installations, workspaces
from vmkit.settings import get_settings

TABLE = "vmkit-test"
# Each tenant's GitHub account has the App installed (on all its repos) under this id.
INSTALLATIONS = {"acme": 7, "globex": 8}


@pytest.fixture
def clouds(monkeypatch: pytest.MonkeyPatch) -> FakeClouds:
    """Every compute target's cloud, in memory: unit tests reach no real provider API."""
    fake = FakeClouds()
    # A plain function, so `Deps` binds it as the method and passes itself.
    monkeypatch.setattr(
        vmkit.deps.Deps,
        "_provider_compute",
        lambda deps, target: fake.provider_compute(deps, target),
    )
    return fake


@pytest.fixture
def github() -> FakeGitHubApp:
    """The VMKit GitHub App as GitHub would answer for it (installations, user access)."""
    fake = FakeGitHubApp()
    for account, installation_id in INSTALLATIONS.items():
        fake.add_installation(installation_id, account)
    return fake


def _install_deps(github: FakeGitHubApp) -> None:
    get_settings.cache_clear()
    vmkit.deps.use_deps(vmkit.deps.Deps(get_settings(), github=github))


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, clouds: FakeClouds, github: FakeGitHubApp):
    """moto-backed AWS with the table and KMS key of template.yaml."""
    for name, value in {
        "AWS_DEFAULT_REGION": "eu-central-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "TABLE_NAME": TABLE,
        "APPS_DOMAIN": "apps.example.test",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        create_table(boto3.client("dynamodb"), TABLE)
        key = boto3.client("kms").create_key(Description="vmkit test")["KeyMetadata"]["Arn"]
        monkeypatch.setenv("KMS_KEY_ID", key)
        machines = create_state_machines(boto3.client("stepfunctions"))
        monkeypatch.setenv("DEPLOY_STATE_MACHINE_ARN", machines["DeployStateMachine"])
        monkeypatch.setenv("TEARDOWN_STATE_MACHINE_ARN", machines["TeardownStateMachine"])
        _install_deps(github)
        yield
        get_settings.cache_clear()
        warm.forget()  # the Deps and the secrets fetched, as after a cold start


@pytest.fixture
def deps(aws):
    return vmkit.deps.get_deps()


@pytest.fixture
def configure(aws, monkeypatch: pytest.MonkeyPatch, github: FakeGitHubApp):
    """Set environment variables as a deployment would, dropping the cached settings."""

    def apply(**env: str) -> None:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        _install_deps(github)

    return apply


@dataclass
class Tenant:
    workspace_id: str
    key: str
    client: TestClient
    account: str  # its GitHub account, whose App installation the workspace holds

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}"}


@pytest.fixture
def app(aws):
    return create_app()


def _tenant(app, deps, name: str) -> Tenant:
    workspace, key = workspaces.bootstrap_workspace(deps, name)
    installations.claim_as_operator(deps, workspace.id, INSTALLATIONS[name])
    client = TestClient(
        app, headers={"Authorization": f"Bearer {key}"}, raise_server_exceptions=False
    )
    return Tenant(workspace.id, key, client, account=name)


@pytest.fixture
def tenant(app, deps) -> Tenant:
    return _tenant(app, deps, "acme")


@pytest.fixture
def other_tenant(app, deps) -> Tenant:
    return _tenant(app, deps, "globex")
