"""Workflow files as the GitHub simulator reads them for workflow_dispatch."""

from __future__ import annotations

import pytest

from vmkit_local.simulators.github.workflows import (
    WorkflowProblem,
    parse_workflow,
    render,
    resolve_inputs,
)

WORKFLOW = b"""\
name: Deploy
run-name: >-
  Deploy ${{ inputs.deploy_id }} (${{ inputs.env }})
  dry=${{ inputs.dry }} by ${{ github.actor }}
on:
  workflow_dispatch:
    inputs:
      deploy_id: {required: true}
      env: {type: choice, options: [prod, staging], default: prod}
      dry: {type: boolean, default: false}
      replicas: {type: number, default: 1}
jobs:
  deploy: {runs-on: ubuntu-latest, steps: [{run: 'true'}]}
"""


@pytest.fixture
def workflow():
    return parse_workflow(".github/workflows/deploy.yml", WORKFLOW)


def test_the_on_key_is_read_despite_yaml_reading_it_as_true(workflow):
    assert set(workflow.dispatch_inputs) == {"deploy_id", "env", "dry", "replicas"}
    assert "on" in workflow.definition and True not in workflow.definition
    assert workflow.name == "Deploy"


@pytest.mark.parametrize(
    "triggers",
    ["on: workflow_dispatch", "on: [push, workflow_dispatch]", "on:\n  workflow_dispatch:"],
)
def test_every_way_of_declaring_the_trigger(triggers):
    parsed = parse_workflow("w.yml", f"{triggers}\njobs: {{}}\n".encode())
    assert parsed.dispatch_inputs == {}
    assert parsed.name == "w.yml"  # unnamed workflows are called by their path


def test_no_dispatch_trigger_and_invalid_files():
    assert parse_workflow("w.yml", b"on: push\n").dispatch_inputs is None
    with pytest.raises(WorkflowProblem, match="Invalid workflow file"):
        parse_workflow("w.yml", b"on: [unclosed\n")
    with pytest.raises(WorkflowProblem, match="Invalid workflow file"):
        parse_workflow("w.yml", b"- just a list\n")


def test_inputs_get_defaults_and_types(workflow):
    resolved = resolve_inputs(workflow, {"deploy_id": "01J", "dry": "true", "replicas": "3"})
    assert resolved == {"deploy_id": "01J", "env": "prod", "dry": True, "replicas": 3}
    assert resolve_inputs(workflow, {"deploy_id": "x", "dry": True})["dry"] is True


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({}, "Required input 'deploy_id' not provided"),
        (
            {"deploy_id": "a", "extra": "1", "more": "2"},
            'Unexpected inputs provided: ["extra", "more"]',
        ),
        ({"deploy_id": "a", "env": "dev"}, "Provided value 'dev' for input 'env' not in the list"),
        ({"deploy_id": "a", "dry": "yes"}, "Provided value 'yes' for input 'dry' is not a boolean"),
        ({"deploy_id": "a", "replicas": "many"}, "for input 'replicas' is not a number"),
    ],
)
def test_bad_inputs_are_refused_with_githubs_messages(workflow, given, message):
    with pytest.raises(WorkflowProblem) as refused:
        resolve_inputs(workflow, given)
    assert message in str(refused.value)


def test_run_name_substitutes_context_paths(workflow):
    inputs = resolve_inputs(workflow, {"deploy_id": "01J"})
    name = render(workflow.run_name, {"inputs": inputs, "github": {"actor": "octocat"}})
    assert name == "Deploy 01J (prod) dry=false by octocat"
    assert render("${{ github.event.inputs.missing }}x", {"github": {}}) == "x"


def test_run_name_refuses_expressions_it_cannot_evaluate():
    with pytest.raises(WorkflowProblem, match="only evaluates context paths"):
        render("${{ format('{0}', inputs.x) }}", {"inputs": {}})
