"""The host on a real VM: useradd/usermod, sshd with `sshd -t` before a reload,
nftables loaded now and at every boot, the Docker Engine API over its unix socket, and
systemd to restart the agent.

Commands go through one `runner` so a test can record what would run on a VM.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vmkit_agent.errors import HostError
from vmkit_agent.host import accounts
from vmkit_agent.host.base import Container, Host, LogLine
from vmkit_agent.host.docker_engine import DockerEngine

FIREWALL_PATH = "/etc/vmkit/firewall.nft"
FIREWALL_UNIT_PATH = "/etc/systemd/system/vmkit-firewall.service"
FIREWALL_UNIT = """\
# Written by vmkit-agent (harden): loads VMKit's nftables table at boot.
[Unit]
Description=VMKit inbound firewall (table inet vmkit)
DefaultDependencies=no
Before=network-pre.target
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/nft -f /etc/vmkit/firewall.nft

[Install]
WantedBy=multi-user.target
"""
SSH_SERVICES = ("ssh.service", "sshd.service")  # Debian/Ubuntu, then RHEL-style names

Runner = Callable[[Sequence[str], str | None], subprocess.CompletedProcess]
log = logging.getLogger(__name__)


def run_command(argv: Sequence[str], input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        list(argv), input=input, capture_output=True, text=True, timeout=120, check=False
    )


class LinuxHost(Host):
    mode = "linux"

    def __init__(
        self,
        root: Path = Path("/"),
        *,
        runner: Runner = run_command,
        docker: DockerEngine | None = None,
    ):
        """`root` is `/` on a VM; tests give a temp dir together with a recording runner."""
        super().__init__(root)
        self._runner = runner
        self._docker = docker or DockerEngine(str(self.path("/var/run/docker.sock")))

    def _run(self, argv: Sequence[str], *, input: str | None = None) -> str:
        done = self._runner(argv, input)
        if done.returncode != 0:
            detail = (done.stderr or done.stdout or "").strip()[-500:]
            raise HostError(f"`{' '.join(argv)}` exited with {done.returncode}: {detail}")
        return done.stdout or ""

    def _succeeds(self, argv: Sequence[str]) -> bool:
        return self._runner(argv, None).returncode == 0

    # Accounts ------------------------------------------------------------------

    def _set_owner(self, path: Path, owner: str | None) -> bool:
        if not owner:
            return False
        user = accounts.read_users(self.path("/etc")).get(owner)
        if user is None:
            raise HostError(f"cannot give {path} to {owner}: no such user")
        stat = path.stat()
        if (stat.st_uid, stat.st_gid) == (user.uid, user.gid):
            return False
        os.chown(path, user.uid, user.gid)
        return True

    def ensure_user(self, name: str, *, groups: Sequence[str]) -> list[str]:
        etc = self.path("/etc")
        changes = []
        for group in groups:
            if group not in accounts.read_groups(etc):
                self._run(["groupadd", "--system", group])
                changes.append(f"created group {group}")
        user = accounts.read_users(etc).get(name)
        if user is None:
            self._run(
                [
                    "useradd",
                    "--create-home",
                    "--shell",
                    "/bin/bash",
                    "--groups",
                    ",".join(groups),
                    name,
                ]
            )
            return [*changes, f"created user {name} (groups: {', '.join(groups)})"]
        known = accounts.read_groups(etc)
        missing = [g for g in groups if not accounts.in_group(user, known[g])]
        if missing:
            self._run(["usermod", "--append", "--groups", ",".join(missing), name])
            changes.append(f"added {name} to {', '.join(missing)}")
        return changes

    # sshd ----------------------------------------------------------------------

    def apply_sshd_dropin(self, absolute: str, content: str) -> list[str]:
        previous = self.read_text(absolute)
        change = self.write_file(absolute, content, mode=0o644)
        changes = []
        if change:
            check = self._runner(["sshd", "-t"], None)
            if check.returncode != 0:
                self._restore(absolute, previous)
                problem = check.stderr.strip()
                raise HostError(
                    f"sshd rejected the configuration, kept the previous one: {problem}"
                )
            self._reload_sshd()
            changes = [change, "reloaded sshd"]
        self._check_effective_sshd(absolute)
        return changes

    def _restore(self, absolute: str, previous: str | None) -> None:
        if previous is None:
            self.path(absolute).unlink(missing_ok=True)
        else:
            self.write_file(absolute, previous, mode=0o644)

    def _reload_sshd(self) -> None:
        # try-reload-or-restart leaves a socket-activated, idle sshd alone: it reads
        # the new configuration on the next connection.
        for service in SSH_SERVICES:
            if self._succeeds(["systemctl", "try-reload-or-restart", service]):
                return
        raise HostError(f"could not reload sshd (tried {', '.join(SSH_SERVICES)})")

    def _check_effective_sshd(self, absolute: str) -> None:
        """sshd keeps the first value it reads, so an earlier drop-in (cloud-init's
        50-cloud-init.conf sorts first) can silently win. Check what sshd will use."""
        effective = dict(
            line.split(" ", 1) for line in self._run(["sshd", "-T"]).splitlines() if " " in line
        )
        for key in ("permitrootlogin", "passwordauthentication"):
            if effective.get(key) != "no":
                raise HostError(
                    f"sshd still has {key} {effective.get(key)!r}: a file read before {absolute} "
                    "sets it (look in /etc/ssh/sshd_config and /etc/ssh/sshd_config.d/)"
                )

    # Firewall ------------------------------------------------------------------

    def apply_firewall(self, ruleset: str) -> list[str]:
        self._run(["nft", "--check", "--file", "-"], input=ruleset)
        changes = [c for c in [self.write_file(FIREWALL_PATH, ruleset, mode=0o600)] if c]
        if changes or not self._succeeds(["nft", "list", "table", "inet", "vmkit"]):
            self._run(["nft", "--file", str(self.path(FIREWALL_PATH))])
            changes.append("loaded the firewall rules")
        unit = self.write_file(FIREWALL_UNIT_PATH, FIREWALL_UNIT, mode=0o644)
        if unit:
            self._run(["systemctl", "daemon-reload"])
            changes.append(unit)
        if not self._succeeds(["systemctl", "is-enabled", "--quiet", "vmkit-firewall.service"]):
            self._run(["systemctl", "enable", "vmkit-firewall.service"])
            changes.append("enabled vmkit-firewall.service (rules load at boot)")
        return changes

    # Docker --------------------------------------------------------------------

    def docker_status(self) -> dict[str, Any]:
        version = self._docker.version()
        return {
            "status": "running",
            "engine": "docker",
            "version": version.get("Version"),
            "api_version": version.get("ApiVersion"),
        }

    def containers(self, *, include_stopped: bool = False) -> list[Container]:
        return self._docker.containers(include_stopped=include_stopped)

    def container_logs(self, name: str, lines: int) -> list[LogLine]:
        return self._docker.logs(name, lines)

    # systemd -------------------------------------------------------------------

    def restart_agent(self) -> None:
        # --no-block: systemd stops this very process as part of the job, so waiting
        # for the job would wait for our own death.
        self._run(["systemctl", "--no-block", "restart", "vmkit-agent.service"])
