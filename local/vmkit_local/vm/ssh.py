"""Real SSH to a guest, with OpenSSH's client: how Kamal (SSHKit) reaches a server.

One `SshSession` is one user with one key on one forwarded port. It multiplexes its
commands over one connection (`ControlMaster`), as SSHKit pools connections: a
handshake costs seconds under software emulation. The key and `known_hosts` live in a
private temporary directory that goes away with the session; host keys are taken on
first use (the guest made them at its first boot).
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import IO

from vmkit_local.vm.errors import GuestError, ToolMissing


class SshFailed(GuestError):
    code = "ssh_failed"

    def __init__(self, command: str, status: int, stderr: str):
        super().__init__(f"`{command}` exited with {status}: {stderr.strip()[-800:]}")
        self.status = status
        self.stderr = stderr


class SshSession:
    def __init__(self, port: int, user: str, private_key: str, *, host: str = "127.0.0.1"):
        if shutil.which("ssh") is None:
            raise ToolMissing("the real-VM target needs ssh: apt-get install openssh-client")
        self.host, self.port, self.user = host, port, user
        self._dir = tempfile.TemporaryDirectory(prefix="vmkit-ssh-")
        directory = Path(self._dir.name)
        self._key = directory / "id"
        self._key.write_text(private_key.strip() + "\n")
        self._key.chmod(0o600)
        self._options = [
            "-o", "BatchMode=yes",
            "-o", "IdentitiesOnly=yes",
            "-o", "IdentityAgent=none",
            "-o", f"IdentityFile={self._key}",
            "-o", "StrictHostKeyChecking=accept-new",
            "-o", f"UserKnownHostsFile={directory / 'known_hosts'}",
            "-o", "ConnectTimeout=20",
            "-o", "ServerAliveInterval=15",
            "-o", "LogLevel=ERROR",
            "-o", "ControlMaster=auto",
            "-o", f"ControlPath={directory / 'cm'}",
            "-o", "ControlPersist=120",
            "-p", str(port),
        ]  # fmt: skip

    def __enter__(self) -> SshSession:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        subprocess.run(
            ["ssh", *self._options, "-O", "exit", self._destination],
            capture_output=True,
            check=False,
            timeout=30,
        )
        self._dir.cleanup()

    @property
    def _destination(self) -> str:
        return f"{self.user}@{self.host}"

    def run(
        self,
        command: str,
        *,
        input: str | None = None,
        stdin: IO[bytes] | None = None,
        check: bool = True,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess:
        """Run `command` (a shell line on the guest); SshFailed when it fails and `check`."""
        done = subprocess.run(
            ["ssh", *self._options, self._destination, command],
            input=input.encode() if input is not None else None,
            stdin=stdin if input is None else None,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        done.stdout = done.stdout.decode(errors="replace")
        done.stderr = done.stderr.decode(errors="replace")
        if check and done.returncode != 0:
            raise SshFailed(command, done.returncode, done.stderr)
        return done

    def write(self, path: str, content: str, mode: str = "600") -> None:
        """Write a file on the guest from stdin (never on the command line: it may hold secrets)."""
        quoted = shlex.quote(path)
        self.run(
            f"umask 077 && mkdir -p $(dirname {quoted}) && cat > {quoted} && chmod {mode} {quoted}",
            input=content,
        )


def attempt_login(port: int, user: str, *options: str, private_key: str | None = None) -> str:
    """Try to log in once without multiplexing and say what sshd answered (stderr):
    how the tests probe what sshd refuses."""
    with tempfile.TemporaryDirectory(prefix="vmkit-ssh-") as directory:
        argv = [
            "ssh",
            "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no",
            "-o", f"UserKnownHostsFile={directory}/known_hosts",
            "-o", "IdentityAgent=none",
            "-o", "ConnectTimeout=20",
            "-p", str(port),
            *options,
        ]  # fmt: skip
        if private_key is not None:
            key = Path(directory) / "id"
            key.write_text(private_key.strip() + "\n")
            key.chmod(0o600)
            argv += ["-o", "IdentitiesOnly=yes", "-i", str(key)]
        done = subprocess.run(
            [*argv, f"{user}@127.0.0.1", "true"], capture_output=True, text=True, timeout=60
        )
        return f"exit {done.returncode}: {done.stderr.strip()}"
