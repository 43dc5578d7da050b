"""Turn a step function of `vmkit.services.orchestration` into a Lambda handler.

The handler parses the state's payload, runs the step, and raises errors under the
names the state machine's Retry and Catch match on: a transient provider error
becomes `TransientProviderError` (retried with backoff), anything else fails the
state. Whatever a step raises is also noted on the deploy, so the failure reason
names the step even though a Catch only passes on the error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vmkit.deps import Deps, get_deps
from vmkit.errors import ProviderError, TransientProviderError, VMKitError
from vmkit.models import Deploy, DeployFailure
from vmkit.observability import logger
from vmkit.services.orchestration import StepInput

Step = Callable[[Deps, StepInput], dict[str, Any] | None]


def lambda_step(
    name: str, step: Step, deps_for: Callable[[], Deps] = get_deps
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """`deps_for` gives the ports (the cold start's `Deps`; tests pass fakes)."""

    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        step_input = StepInput.model_validate(event)
        logger.append_keys(deploy_id=step_input.deploy_id, step=name)
        deps = deps_for()
        try:
            return step(deps, step_input) or {}
        except Exception as exc:
            reason = exc.message if isinstance(exc, VMKitError) else f"internal error in {name}"
            _note(deps, step_input, name, reason)
            if isinstance(exc, ProviderError) and exc.transient:
                logger.warning("transient provider error", extra={"reason": reason})
                raise TransientProviderError(reason, provider=exc.provider, transient=True) from exc
            if isinstance(exc, VMKitError):
                logger.info("step failed", extra={"reason": reason})
            else:
                logger.exception("step failed")
            raise

    handler.__name__ = handler.__qualname__ = name
    return handler


def _note(deps: Deps, step_input: StepInput, name: str, reason: str) -> None:
    deploy = deps.store.find(Deploy, step_input.workspace_id, step_input.deploy_id)
    if deploy is not None:
        deps.store.set_fields(deploy, last_error=DeployFailure(step=name, reason=reason))
