"""The embedded stack in a process of its own, for the restart tests to kill and restart.

`python -m tests.e2e.restartable_stack DATA_DIR STATE_FILE [SWEEP_EVERY_S]` builds what `vmkit local up`
builds, with the e2e timings, plus one test seam: while `DATA_DIR/hold-resumes`
exists and names a wait (`agent`, `harden`, `workflow`), the resumption of that wait
(SendTaskSuccess or SendTaskFailure with its task token, whoever sends it: the agent's
registration, the harden reply, the workflow webhook) waits at the AWS endpoint, after
touching `hold-resumes.held`. The deploy then stays at that waiting step, durably
recorded, for as long as the test needs to kill the stack there.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from vmkit_local.cli import serve
from vmkit_local.embedded import EmbeddedConfig, build

RESUMES = (".SendTaskSuccess", ".SendTaskFailure")


class ResumeHold:
    name = "resume-hold"

    def __init__(self, flag: Path):
        self.flag = flag
        self.stack: Any = None

    def start(self, stack: Any) -> None:
        self.stack = stack
        router = stack.aws_server.router
        inner = router.fallback

        def held(environ: dict, start_response: Any) -> Any:
            if environ.get("HTTP_X_AMZ_TARGET", "").endswith(RESUMES) and self.flag.exists():
                body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
                environ["wsgi.input"] = io.BytesIO(body)
                if self._waits_for(json.loads(body)["taskToken"]) == self.flag.read_text():
                    self.flag.with_suffix(".held").touch()
                    while self.flag.exists():
                        time.sleep(0.05)
            return inner(environ, start_response)

        router.fallback = held

    def _waits_for(self, token: str) -> str | None:
        """What the parked wait holding this token waits for (the layer's WAIT# rows)."""
        pages = (
            self.stack.client("dynamodb")
            .get_paginator("scan")
            .paginate(
                TableName=os.environ["TABLE_NAME"],
                FilterExpression="task_token = :t",
                ExpressionAttributeValues={":t": {"S": token}},
            )
        )
        for page in pages:
            for item in page["Items"]:
                return item["what"]["S"]
        return None

    def stop(self) -> None:
        pass


def main(data_dir: Path, state_file: Path, sweep_every_s: float | None = None) -> None:
    """`sweep_every_s`: the sweeper fires at that period, and leaves deploys alone for
    only as long (EXECUTION_GRACE_SECONDS), instead of every 5 minutes after 2."""
    config = EmbeddedConfig(
        data_dir=data_dir,
        state_file=state_file,
        agent_wait_seconds=60,
        workflow_wait_seconds=120,
        parameter_overrides={"LogLevel": "WARNING"},
        schedule_every_s=sweep_every_s,
        extra_env={"EXECUTION_GRACE_SECONDS": str(int(sweep_every_s or 120))},
    )
    stack, _ = build(config)
    stack.services.append(ResumeHold(data_dir / "hold-resumes"))
    serve(stack)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), *(float(a) for a in sys.argv[3:4]))
