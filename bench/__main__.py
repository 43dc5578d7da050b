"""Run every benchmark and print its figures, each part in a fresh interpreter.

The parts change process-wide state as the functions they measure do (the MCP part
loads its handler under moto with its own environment; a handler's init phase
changes pydantic's defaults; Powertools' logger keeps the level of whoever imported
it first), so one part must not measure another's leftovers.
"""

import subprocess
import sys

PARTS = ("imports", "agent_bench", "mcp_bench", "deploy_bench")

if __name__ == "__main__":
    for number, part in enumerate(PARTS):
        if number:
            print(flush=True)
        subprocess.run(
            [sys.executable, "-c", f"from bench import {part}; {part}.main()"], check=True
        )
