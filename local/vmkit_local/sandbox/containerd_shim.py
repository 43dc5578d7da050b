"""The per-container process that stands between the runtime and the app, like containerd-shim.

It starts the app in its own process group, records the app's pid in the container's
state file, writes each output line to the container's log as `<RFC3339> <text>` (what
docker's json-file driver keeps and `docker logs` shows), and marks the container
exited with its exit code when the app ends. Because the shim owns the log and the
state, a container keeps running and logging even if the process that deployed it
(the simulated Actions run) has finished, as a docker container outlives `kamal`.

Run as `python -I -m vmkit_local.sandbox.containerd_shim DIR ID LOG -- ARGV...`; it
prints the app's pid on stdout once started, so the runtime knows the start worked.
The state file is found by the container's id, not its name: `docker rename` (a
redeploy of the same version) moves the record while the app keeps running.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from vmkit_local.sandbox.rootfs import read_json, rfc3339_now, update_json


def main(argv: list[str]) -> int:
    directory, container_id, log_file, separator, *command = argv
    if separator != "--" or not command:
        print("usage: containerd_shim DIR ID LOG -- ARGV...", file=sys.stderr)
        return 2
    # The runtime stops a container by signalling its whole process group; the shim
    # must outlive the app to record how it ended. A Python-level handler (rather than
    # SIG_IGN) is reset on exec, so the app still gets the default SIGTERM behaviour.
    signal.signal(signal.SIGTERM, lambda *_: None)
    signal.signal(signal.SIGINT, lambda *_: None)
    record = _StateRecord(Path(directory), container_id)
    with Path(log_file).open("a", encoding="utf-8") as log:  # the fd follows a rename
        try:
            app = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
        except OSError as error:
            log.write(f"{rfc3339_now()} exec {command[0]}: {error.strerror}\n")
            record.update({"state": "exited", "exit_code": 127, "pid": None})
            print("exec-failed", flush=True)
            return 127
        record.update({"pid": app.pid})
        print(app.pid, flush=True)
        sys.stdout.close()
        assert app.stdout is not None
        for raw in iter(app.stdout.readline, b""):
            log.write(f"{rfc3339_now()} {raw.decode('utf-8', 'replace').rstrip()}\n")
            log.flush()
    code = app.wait()
    exit_code = 128 - code if code < 0 else code  # docker's convention for signals
    ended = {"state": "exited", "exit_code": exit_code, "finished_at": rfc3339_now()}
    record.update(ended)
    return 0


class _StateRecord:
    def __init__(self, directory: Path, container_id: str):
        self.directory = directory
        self.container_id = container_id

    def update(self, changes: dict[str, object]) -> None:
        for path in self.directory.glob("[!.]*.json"):
            if not path.name.endswith(".config.json"):
                state = read_json(path) or {}
                if state.get("id") == self.container_id:
                    update_json(path, changes)
                    return


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
