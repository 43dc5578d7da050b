"""Actions over REST: secrets, workflows, dispatches, runs and jobs; and the run's page."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from ..endpoint import Call, JsonApi
from .bodies import object_body, optional_bool, required_str
from .errors import GitHubError, invalid_request, not_found
from .paging import page_of
from .payloads import html_run_url, job_json
from .shapes import speaks_2026

if TYPE_CHECKING:
    from .simulator import GitHubSimulator

MAX_INPUTS = 25
RUN_STATUSES = {"queued", "in_progress", "completed", "requested", "waiting", "pending"}


def register(api: JsonApi, sim: GitHubSimulator) -> None:
    actions = sim.actions
    prefix = "/repos/{owner}/{repo}/actions"

    # -- secrets ---------------------------------------------------------------------------

    @api.route(f"{prefix}/secrets/public-key", ["GET"])
    def get_public_key(call: Call) -> Response:
        with sim.state.lock:
            return JSONResponse(actions.public_key(sim.repo_for(call)))

    @api.route(f"{prefix}/secrets", ["GET"])
    def list_secrets(call: Call) -> Response:
        with sim.state.lock:
            secrets = sorted(sim.repo_for(call)["secrets"].values(), key=lambda s: s["name"])
        window, headers = page_of(call, secrets)
        return JSONResponse({"total_count": len(secrets), "secrets": window}, headers=headers)

    @api.route(f"{prefix}/secrets/{{name}}", ["GET"])
    def get_secret(call: Call) -> Response:
        with sim.state.lock:
            secret = sim.repo_for(call)["secrets"].get(call.path_params["name"].upper())
        if secret is None:
            raise not_found()
        return JSONResponse(secret)

    @api.route(f"{prefix}/secrets/{{name}}", ["PUT"])
    def put_secret(call: Call) -> Response:
        body = object_body(call)
        with sim.state.lock:
            created = actions.put_secret(sim.repo_for(call), call.path_params["name"], body)
            sim.state.save()
        return JSONResponse({}, status_code=201) if created else Response(status_code=204)

    @api.route(f"{prefix}/secrets/{{name}}", ["DELETE"])
    def delete_secret(call: Call) -> Response:
        with sim.state.lock:
            actions.delete_secret(sim.repo_for(call), call.path_params["name"])
            sim.state.save()
        return Response(status_code=204)

    # -- variables (plain configuration values, readable back, unlike secrets) ---------------

    def _variables(call: Call) -> dict[str, Any]:
        return sim.repo_for(call).setdefault("variables", {})

    @api.route(f"{prefix}/variables", ["GET"])
    def list_variables(call: Call) -> Response:
        with sim.state.lock:
            variables = sorted(_variables(call).values(), key=lambda v: v["name"])
        window, headers = page_of(call, variables)
        return JSONResponse({"total_count": len(variables), "variables": window}, headers=headers)

    @api.route(f"{prefix}/variables", ["POST"])
    def create_variable(call: Call) -> Response:
        body = object_body(call)
        name, value = _variable_fields(body)
        with sim.state.lock:
            variables = _variables(call)
            if name in variables:
                raise GitHubError(409, "Already exists - Variable already exists")
            variables[name] = _variable(name, value)
            sim.state.save()
        return JSONResponse({}, status_code=201)

    @api.route(f"{prefix}/variables/{{name}}", ["GET"])
    def get_variable(call: Call) -> Response:
        with sim.state.lock:
            variable = _variables(call).get(call.path_params["name"].upper())
        if variable is None:
            raise not_found()
        return JSONResponse(variable)

    @api.route(f"{prefix}/variables/{{name}}", ["PATCH"])
    def update_variable(call: Call) -> Response:
        body = object_body(call)
        name = call.path_params["name"].upper()
        with sim.state.lock:
            variables = _variables(call)
            if name not in variables:
                raise not_found()
            _, value = _variable_fields({"name": name, **body})
            variables[name] = {
                **_variable(name, value),
                "created_at": variables[name]["created_at"],
            }
            sim.state.save()
        return Response(status_code=204)

    @api.route(f"{prefix}/variables/{{name}}", ["DELETE"])
    def delete_variable(call: Call) -> Response:
        with sim.state.lock:
            if _variables(call).pop(call.path_params["name"].upper(), None) is None:
                raise not_found()
            sim.state.save()
        return Response(status_code=204)

    # -- workflows and dispatches -----------------------------------------------------------------

    @api.route(f"{prefix}/workflows", ["GET"])
    def list_workflows(call: Call) -> Response:
        with sim.state.lock:
            workflows = actions.workflows(sim.repo_for(call), call.base_url)
        window, headers = page_of(call, workflows)
        return JSONResponse({"total_count": len(workflows), "workflows": window}, headers=headers)

    @api.route(f"{prefix}/workflows/{{workflow_id}}", ["GET"])
    def get_workflow(call: Call) -> Response:
        with sim.state.lock:
            repo = sim.repo_for(call)
            path = actions.workflow_path(repo, call.base_url, call.path_params["workflow_id"])
            for workflow in actions.workflows(repo, call.base_url):
                if workflow["path"] == path:
                    return JSONResponse(workflow)
        raise not_found()

    @api.route(f"{prefix}/workflows/{{workflow_id}}/dispatches", ["POST"])
    def dispatch(call: Call) -> Response:
        body = object_body(call)
        ref = required_str(body, "ref")
        inputs = body.get("inputs") or {}
        if not isinstance(inputs, dict):
            raise invalid_request("For 'properties/inputs', it is not an object.")
        if len(inputs) > MAX_INPUTS:
            raise invalid_request(f"inputs are limited to {MAX_INPUTS} properties.")
        # Version 2026-03-10 always answers with the run; older ones only when asked.
        details = optional_bool(body, "return_run_details", default=speaks_2026(call))
        with sim.state.lock:
            repo = sim.repo_for(call)
            run = actions.dispatch(
                repo,
                call.path_params["workflow_id"],
                ref,
                inputs,
                sim.actor(call)["login"],
                call.base_url,
            )
        if not details:
            return Response(status_code=204)
        full = repo["full_name"]
        return JSONResponse(
            {
                "workflow_run_id": run["id"],
                "run_url": f"{call.base_url}/repos/{full}/actions/runs/{run['id']}",
                "html_url": html_run_url(call.base_url, full, run["id"]),
            }
        )

    # -- runs and jobs ----------------------------------------------------------------------------

    @api.route(f"{prefix}/runs", ["GET"])
    def list_runs(call: Call) -> Response:
        return _runs_page(sim, call, workflow_ref=None)

    @api.route(f"{prefix}/workflows/{{workflow_id}}/runs", ["GET"])
    def list_workflow_runs(call: Call) -> Response:
        return _runs_page(sim, call, workflow_ref=call.path_params["workflow_id"])

    @api.route(f"{prefix}/runs/{{run_id:int}}", ["GET"])
    def get_run(call: Call) -> Response:
        with sim.state.lock:
            run = _run_of(sim, call)
            return JSONResponse(actions.run_json(run, call.base_url))

    @api.route(f"{prefix}/runs/{{run_id:int}}/jobs", ["GET"])
    def list_jobs(call: Call) -> Response:
        with sim.state.lock:
            run = _run_of(sim, call)
            jobs = [job_json(call.base_url, run, run["repo"])]
        return JSONResponse({"total_count": len(jobs), "jobs": jobs})

    @api.route(f"{prefix}/jobs/{{job_id:int}}/logs", ["GET"])
    def job_logs(call: Call) -> Response:
        """GitHub answers with a short-lived link to the plain-text log; so does this."""
        with sim.state.lock:
            repo = sim.repo_for(call)
            job_id = call.path_params["job_id"]
            run = next((r for r in sim.state.runs_of(repo) if r["job"]["id"] == job_id), None)
            if run is None:
                raise not_found()
        return RedirectResponse(
            f"{call.base_url}/_logs/{repo['full_name']}/jobs/{job_id}", status_code=302
        )


def _run_of(sim: GitHubSimulator, call: Call) -> dict[str, Any]:
    repo = sim.repo_for(call)
    run = sim.state.run(call.path_params["run_id"])
    if run is None or run["repo"] != repo["full_name"]:
        raise not_found()
    return run


def _runs_page(sim: GitHubSimulator, call: Call, workflow_ref: str | None) -> Response:
    query = call.query
    with sim.state.lock:
        repo = sim.repo_for(call)
        runs = sim.state.runs_of(repo)
        if workflow_ref is not None:
            path = sim.actions.workflow_path(repo, call.base_url, workflow_ref)
            runs = [run for run in runs if run["workflow_path"] == path]
        filters = {
            "actor": lambda run, value: run["actor"].lower() == value.lower(),
            "branch": lambda run, value: run["head_branch"] == value,
            "event": lambda run, value: run["event"] == value,
            "head_sha": lambda run, value: run["head_sha"] == value,
            "status": lambda run, value: (
                run["status"] == value if value in RUN_STATUSES else run["conclusion"] == value
            ),
        }
        for name, matches in filters.items():
            if (value := query.get(name)) is not None:
                runs = [run for run in runs if matches(run, value)]
        window, headers = page_of(call, runs)
        body = {
            "total_count": len(runs),
            "workflow_runs": [sim.actions.run_json(run, call.base_url) for run in window],
        }
    return JSONResponse(body, headers=headers)


def page_routes(sim: GitHubSimulator) -> list[Route]:
    """The run's `html_url`: on GitHub a web page, here its log as text."""

    async def run_page(request: Request) -> Response:
        params = request.path_params
        with sim.state.lock:
            run = sim.state.run(params["run_id"])
            full = f"{params['owner']}/{params['repo']}"
            if run is None or run["repo"].lower() != full.lower():
                return PlainTextResponse("Not Found", status_code=404)
            header = f"{run['name']} #{run['run_number']}: {run['status']}"
            if run["conclusion"]:
                header += f" ({run['conclusion']})"
        log = sim.run_log(run["id"]) or ""
        return PlainTextResponse(f"{header}\n\n{log}")

    async def job_log(request: Request) -> Response:
        """Where a job's log link points (on GitHub, a signed blob URL): the raw log."""
        params = request.path_params
        full = f"{params['owner']}/{params['repo']}".lower()
        with sim.state.lock:
            run = next(
                (
                    r
                    for r in sim.state.data["runs"].values()
                    if r["job"]["id"] == params["job_id"] and r["repo"].lower() == full
                ),
                None,
            )
        if run is None:
            return PlainTextResponse("Not Found", status_code=404)
        return PlainTextResponse(sim.run_log(run["id"]) or "")

    return [
        Route("/{owner}/{repo}/actions/runs/{run_id:int}", run_page, methods=["GET"]),
        Route("/_logs/{owner}/{repo}/jobs/{job_id:int}", job_log, methods=["GET"]),
    ]


def _variable_fields(body: dict[str, Any]) -> tuple[str, str]:
    name, value = body.get("name"), body.get("value")
    if (
        not isinstance(name, str)
        or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)
        or name.upper().startswith("GITHUB_")
    ):
        raise GitHubError(
            422, "Invalid request.\n\nInvalid property /name: must be a valid variable name."
        )
    if not isinstance(value, str):
        raise GitHubError(
            422, "Invalid request.\n\nInvalid property /value: `value` is a required string."
        )
    return name.upper(), value


def _variable(name: str, value: str) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"name": name, "value": value, "created_at": now, "updated_at": now}
