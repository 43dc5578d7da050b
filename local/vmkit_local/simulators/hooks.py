"""The callables other parts of the local stack plug into the simulators.

The simulators only keep API state; what a server or a workflow run *does* is supplied
from outside: the sandbox VM runner boots servers and runs deploys, tests pass
recording fakes. Implement these signatures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, TypedDict


class BootHook(Protocol):
    """Start the VM for a newly created server (Droplet); return its public IPv4.

    Called inside the create request (the real API answers with the IP already
    assigned), so return promptly: start the VM and its cloud-init, do not wait for
    cloud-init to finish. Raising fails the server's `create_server` action.
    """

    def __call__(
        self, server_id: int, name: str, user_data: str, labels: dict[str, str]
    ) -> str: ...


class DestroyHook(Protocol):
    """Stop and remove the VM of a deleted server (Droplet)."""

    def __call__(self, server_id: int) -> None: ...


class MachineHook(Protocol):
    """Act on an existing server's VM: power it off, power it on, or rebuild it.

    A rebuild wipes the VM's disk, lays down the image again and boots it at the same
    address; cloud-init runs the server's original user data again, which the VM
    keeps (as a cloud's metadata service keeps serving it). Called from the action's
    background work, so it may take its time; raising fails the action.
    """

    def __call__(self, server_id: int) -> None: ...


class WorkflowRunContext(TypedDict):
    """What a dispatched GitHub Actions run needs to know to do its work."""

    id: int
    run_number: int
    name: str
    """The rendered `run-name` (or the workflow's name)."""
    repository: str
    """`owner/name`."""
    workflow_path: str
    workflow: dict[str, Any]
    """The workflow file, parsed (so the runner can read jobs, env and steps)."""
    event: str
    ref: str
    head_branch: str | None
    head_sha: str
    inputs: dict[str, Any]
    """The dispatch inputs after defaults, typed as the workflow declares them."""
    variables: dict[str, str]
    """The repo's Actions variables (`vars.NAME` in the workflow)."""
    actor: str
    html_url: str


class RunWorkflowHook(Protocol):
    """Execute one dispatched run; return `(conclusion, log_text)`.

    `checkout_dir` is a git clone of the repo at `head_sha` (like actions/checkout);
    it is removed when the hook returns, so copy what must outlive the run. `secrets`
    holds the repo's Actions secrets in plaintext. `conclusion` is one of GitHub's:
    success, failure, cancelled, skipped, timed_out, neutral, action_required.
    Secret values in `log_text` are masked before the log is stored. Raising
    concludes the run as `failure`.
    """

    def __call__(
        self, run: WorkflowRunContext, checkout_dir: Path, secrets: dict[str, str]
    ) -> tuple[str, str]: ...
