"""Operator commands: `vmkit admin bootstrap` on a stack, and `vmkit init` on a checkout."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import boto3
import pytest

from tests.support.template import ROOT
from vmkit import auth
from vmkit.models import Interface, Scope
from vmkit_cli import localstack
from vmkit_cli.main import main


def test_bootstrap_on_a_stack_prints_a_workspace_and_a_working_admin_key(deps, capsys):
    # Given a deployed stack whose outputs name the table and the key
    outputs = {"TableName": deps.settings.table_name, "KeyArn": deps.settings.kms_key_id}
    boto3.client("cloudformation").create_stack(
        StackName="vmkit",
        TemplateBody=json.dumps(
            {
                "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
                "Outputs": {name: {"Value": value} for name, value in outputs.items()},
            }
        ),
    )
    # When the operator bootstraps it
    assert main(["admin", "bootstrap", "--stack", "vmkit", "--name", "acme", "--json"]) == 0
    # Then the key works for the new workspace
    printed = json.loads(capsys.readouterr().out)
    assert printed["name"] == "acme" and printed["workspace_id"].startswith("ws_")
    principal = auth.authenticate_api_key(deps.store, printed["api_key"], Interface.cli)
    assert principal.workspace_id == printed["workspace_id"] and principal.scope is Scope.admin


def test_bootstrap_with_no_stack_anywhere_says_what_to_do(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(localstack, "_CHECKOUT", tmp_path)
    assert main(["admin", "bootstrap"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "vmkit local up" in err and "--stack" in err


def test_bootstrap_on_an_unknown_stack_is_one_line_about_aws(aws, capsys):
    assert main(["admin", "bootstrap", "--stack", "nope"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: AWS: ") and "\n" not in err and "nope" in err


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    target = tmp_path / "hello"
    shutil.copytree(ROOT / "examples" / "hello", target)
    return target


def test_init_writes_the_onboarding_files_and_refuses_to_overwrite(checkout, capsys):
    assert main(["init", str(checkout), "--owner", "acme"]) == 0
    out = capsys.readouterr().out
    assert "created  config/deploy.yml" in out and "https://hello-production.vmkit.app" in out
    assert (checkout / ".github/workflows/vmkit-deploy.yml").is_file()
    before = (checkout / "config/deploy.yml").read_text()
    (checkout / "config/deploy.yml").write_text("# mine\n")
    assert main(["init", str(checkout), "--owner", "acme"]) == 1
    assert "--force" in capsys.readouterr().err
    assert (checkout / "config/deploy.yml").read_text() == "# mine\n"  # left alone
    assert main(["init", str(checkout), "--owner", "acme", "--force"]) == 0
    assert (checkout / "config/deploy.yml").read_text() == before


def test_init_dry_run_prints_and_writes_nothing(checkout, capsys):
    assert main(["init", str(checkout), "--owner", "acme", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "--- config/deploy.yml (would_create) ---" in out and "service: hello" in out
    assert not (checkout / "config").exists()


def test_init_json_has_the_scan_and_the_files(checkout, capsys):
    assert main(["init", str(checkout), "--owner", "acme", "--json", "--dry-run"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["scan"]["language"] == "python" and result["scan"]["health_path"] == "/up"
    assert {f["path"] for f in result["files"]} >= {"config/deploy.yml", ".kamal/secrets"}


def test_init_on_a_folder_with_no_app_says_what_it_looked_for(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("nothing to deploy\n")
    assert main(["init", str(tmp_path), "--owner", "acme"]) == 1
    err = capsys.readouterr().err
    assert "package.json" in err and "requirements.txt" in err
