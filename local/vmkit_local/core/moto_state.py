"""The few things the public AWS APIs cannot do for a local stack, done on moto's models.

KMS has no API to choose a key's id or to export its material, yet a stack that keeps
its DynamoDB items across restarts must keep its key too, or every envelope-encrypted
credential in those items becomes undecryptable. moto runs in this process, so the key
is renamed to the template's deterministic id and its material saved and restored
here. Everything else the stack does goes through boto3. Tied to moto 5.2 (pinned).
"""

from __future__ import annotations


def _kms_backend(account_id: str, region: str):
    from moto.kms.models import kms_backends

    return kms_backends[account_id][region]


def adopt_kms_key(
    account_id: str, region: str, created_id: str, wanted_id: str, material: bytes | None
) -> bytes:
    """Give the key moto just created the template's id (and saved material, if any).

    Returns the key material now in use, for the data directory.
    """
    backend = _kms_backend(account_id, region)
    key = backend.keys.pop(created_id)
    key.id = wanted_id
    key.arn = f"arn:aws:kms:{region}:{account_id}:key/{wanted_id}"
    if material is not None:
        key.key_material = material
    backend.keys[wanted_id] = key
    return bytes(key.key_material)


def kms_key_material(account_id: str, region: str, key_id: str) -> bytes:
    return bytes(_kms_backend(account_id, region).keys[key_id].key_material)


def release_waiting_tasks(account_id: str, region: str) -> None:
    """Wake the threads of tasks still waiting on a task token.

    moto's StopExecution marks an execution stopped but leaves a `waitForTaskToken`
    thread waiting until the task's own timeout (possibly days); interrupting its
    callback lets it see the stop and end now.
    """
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    backend = stepfunctions_parser_backends[account_id][region]
    for execution in backend._get_executions():
        worker = getattr(execution, "exec_worker", None)
        environment = getattr(worker, "env", None)
        if environment is None:
            continue
        for endpoint in list(environment.callback_pool_manager._pool.values()):
            endpoint.interrupt_all()


def end_stopped_executions() -> None:
    """After a StopExecution: wake the token waits of the executions that were stopped
    (and only those: other executions' waits go on), so they end as AWS ends them."""
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    for account in list(stepfunctions_parser_backends.values()):
        for backend in list(account.values()):
            for execution in backend._get_executions():
                environment = getattr(getattr(execution, "exec_worker", None), "env", None)
                if environment is None or not isinstance(
                    environment.program_state(), ProgramStopped
                ):
                    continue
                for endpoint in list(environment.callback_pool_manager._pool.values()):
                    endpoint.interrupt_all()
