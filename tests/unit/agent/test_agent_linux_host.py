"""The real-VM host, with its commands recorded instead of run and a fake Docker Engine
on a unix socket: what harden would do on a VM, and how Docker's API is read."""

from __future__ import annotations

import http.server
import json
import os
import socketserver
import struct
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
from agent_unit_support import deploy_key

from vmkit_agent.errors import DockerUnavailable, HostError, NotFound
from vmkit_agent.handlers.harden import SSHD_DROPIN_PATH, harden
from vmkit_agent.host.base import LogLine
from vmkit_agent.host.docker_engine import DockerEngine
from vmkit_agent.host.linux import LinuxHost

EFFECTIVE_SSHD = "port 22\npermitrootlogin no\npasswordauthentication no\n"


class FakeVM:
    """Records commands; emulates useradd's effect on the account files and the state
    `nft list table` and `systemctl is-enabled` report."""

    def __init__(self, root: Path):
        self.root = root
        self.commands: list[list[str]] = []
        self.inputs: dict[str, str] = {}
        self.failures: dict[tuple[str, ...], tuple[int, str]] = {}
        self.sshd_effective = EFFECTIVE_SSHD
        self.table_loaded = False
        self.firewall_enabled = False

    def __call__(self, argv: Sequence[str], input: str | None) -> subprocess.CompletedProcess:
        argv = list(argv)
        self.commands.append(argv)
        if input is not None:
            self.inputs[" ".join(argv)] = input
        for prefix, (code, stderr) in self.failures.items():
            if tuple(argv[: len(prefix)]) == prefix:
                return subprocess.CompletedProcess(argv, code, "", stderr)
        stdout, code = "", 0
        if argv[0] == "useradd":
            passwd = self.root / "etc/passwd"
            passwd.write_text(
                passwd.read_text() + f"kamal:x:{os.getuid()}:{os.getgid()}::/home/kamal:/bin/bash\n"
            )
            (self.root / "home/kamal").mkdir(parents=True)
            self._join_docker()
        elif argv[0] == "usermod":
            self._join_docker()
        elif argv[:2] == ["sshd", "-T"]:
            stdout = self.sshd_effective
        elif argv[:3] == ["nft", "list", "table"]:
            code = 0 if self.table_loaded else 1
        elif argv[:2] == ["nft", "--file"]:
            self.table_loaded = True
        elif argv[:2] == ["systemctl", "is-enabled"]:
            code = 0 if self.firewall_enabled else 1
        elif argv[:2] == ["systemctl", "enable"]:
            self.firewall_enabled = True
        return subprocess.CompletedProcess(argv, code, stdout, "")

    def _join_docker(self) -> None:
        group = self.root / "etc/group"
        group.write_text(group.read_text().replace("docker:x:998:\n", "docker:x:998:kamal\n"))


@pytest.fixture
def vm(root):
    return FakeVM(root)


@pytest.fixture
def linux_ctx(ctx, root, vm):
    ctx.host = LinuxHost(root, runner=vm)
    return ctx


def test_harden_on_a_vm_runs_the_expected_commands(linux_ctx, root, vm):
    result = harden(
        linux_ctx, {"deploy_public_key": deploy_key(), "ssh_allow_from": ["203.0.113.0/24"]}
    )

    assert vm.commands == [
        ["useradd", "--create-home", "--shell", "/bin/bash", "--groups", "docker", "kamal"],
        ["sshd", "-t"],
        ["systemctl", "try-reload-or-restart", "ssh.service"],
        ["sshd", "-T"],
        ["nft", "--check", "--file", "-"],
        ["nft", "--file", str(root / "etc/vmkit/firewall.nft")],
        ["systemctl", "daemon-reload"],
        ["systemctl", "is-enabled", "--quiet", "vmkit-firewall.service"],
        ["systemctl", "enable", "vmkit-firewall.service"],
    ]
    assert "ip saddr { 203.0.113.0/24 } tcp dport 22 accept" in vm.inputs["nft --check --file -"]
    assert "reloaded sshd" in result["changes"]
    assert (
        "ExecStart=/usr/sbin/nft -f /etc/vmkit/firewall.nft"
        in (root / "etc/systemd/system/vmkit-firewall.service").read_text()
    )


def test_harden_on_a_vm_twice_only_checks_the_second_time(linux_ctx, vm):
    params = {"deploy_public_key": deploy_key()}
    harden(linux_ctx, params)
    vm.commands.clear()

    assert harden(linux_ctx, params) == {"ok": True, "changes": []}
    assert [c[0] for c in vm.commands] == [
        "sshd",
        "nft",
        "nft",
        "systemctl",
    ]  # -T, check, list, is-enabled


def test_a_firewall_table_lost_at_reboot_is_loaded_again(linux_ctx, vm):
    params = {"deploy_public_key": deploy_key()}
    harden(linux_ctx, params)
    vm.table_loaded = False

    assert harden(linux_ctx, params)["changes"] == ["loaded the firewall rules"]


def test_an_sshd_config_that_sshd_rejects_is_rolled_back(linux_ctx, root, vm):
    dropin = root / SSHD_DROPIN_PATH.lstrip("/")
    dropin.parent.mkdir(parents=True)
    dropin.write_text("# the previous one\n")
    vm.failures[("sshd", "-t")] = (255, "/etc/ssh/sshd_config.d/50-vmkit.conf line 3: Bad option")

    with pytest.raises(
        HostError, match=r"sshd rejected the configuration, kept the previous one: .*Bad option"
    ):
        harden(linux_ctx, {"deploy_public_key": deploy_key()})

    assert dropin.read_text() == "# the previous one\n"
    assert ["systemctl", "try-reload-or-restart", "ssh.service"] not in vm.commands


def test_an_earlier_sshd_file_that_still_allows_passwords_is_reported(linux_ctx, vm):
    vm.sshd_effective = "permitrootlogin no\npasswordauthentication yes\n"

    with pytest.raises(HostError, match="sshd still has passwordauthentication 'yes'"):
        harden(linux_ctx, {"deploy_public_key": deploy_key()})


def test_a_failing_command_is_reported_with_its_output(linux_ctx, vm):
    vm.failures[("useradd",)] = (9, "useradd: user 'kamal' already exists")

    with pytest.raises(
        HostError, match=r"`useradd .*` exited with 9: useradd: user 'kamal' already exists"
    ):
        harden(linux_ctx, {"deploy_public_key": deploy_key()})


def test_an_existing_user_is_only_added_to_the_missing_group(linux_ctx, root, vm):
    passwd = root / "etc/passwd"
    passwd.write_text(
        passwd.read_text() + f"kamal:x:{os.getuid()}:{os.getgid()}::/home/kamal:/bin/bash\n"
    )
    (root / "home/kamal").mkdir(parents=True)

    harden(linux_ctx, {"deploy_public_key": deploy_key()})

    assert vm.commands[0] == ["usermod", "--append", "--groups", "docker", "kamal"]


def test_restarting_the_agent_asks_systemd_without_waiting_for_its_own_death(root, vm):
    LinuxHost(root, runner=vm).restart_agent()
    assert vm.commands == [["systemctl", "--no-block", "restart", "vmkit-agent.service"]]


# Docker Engine API over a unix socket ---------------------------------------------


def _multiplexed(*records: tuple[int, bytes]) -> bytes:
    return b"".join(struct.pack(">BxxxI", stream, len(data)) + data for stream, data in records)


CONTAINERS = {
    "web": {
        "Id": "a1" * 32,
        "Name": "/web",
        "Tty": False,
        "Status": "running",
        "Health": "healthy",
    },
    "console": {
        "Id": "b2" * 32,
        "Name": "/console",
        "Tty": True,
        "Status": "running",
        "Health": None,
    },
}


class _DockerAPI(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _send(self, status: int, body: bytes, *, chunked: bool = False) -> None:
        self.send_response(status)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(body), 7):
                piece = body[start : start + 7]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        parts = path.strip("/").split("/")
        found = next(
            (
                c
                for c in CONTAINERS.values()
                if len(parts) > 1 and parts[1] in (c["Id"], c["Name"][1:])
            ),
            None,
        )
        if path == "/version":
            self._send(200, json.dumps({"Version": "26.1.5", "ApiVersion": "1.45"}).encode())
        elif path == "/containers/json":
            self._send(
                200,
                json.dumps([{"Id": c["Id"], "Image": "img"} for c in CONTAINERS.values()]).encode(),
            )
        elif found is None:
            self._send(404, json.dumps({"message": f"No such container: {parts[-2]}"}).encode())
        elif parts[2] == "json":
            state = {"Status": found["Status"]}
            if found["Health"]:
                state["Health"] = {"Status": found["Health"]}
            body = {
                "Name": found["Name"],
                "Config": {"Image": "ghcr.io/acme/app:1", "Tty": found["Tty"]},
                "State": state,
            }
            self._send(200, json.dumps(body).encode())
        elif parts[2] == "logs":
            assert "timestamps=1" in query and "tail=2" in query
            if found["Tty"]:
                self._send(200, b"2026-11-23T10:00:00.1Z tty line\r\n", chunked=True)
            else:
                stream = _multiplexed(
                    (1, b"2026-11-23T10:00:00.1Z out one\n"),
                    (2, b"2026-11-23T10:00:00.2Z err two\n"),
                )
                self._send(200, stream, chunked=True)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def docker_socket(tmp_path):
    path = tmp_path / "docker.sock"
    server = socketserver.ThreadingUnixStreamServer(str(path), _DockerAPI)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    yield str(path)
    server.shutdown()
    server.server_close()
    thread.join()


def test_docker_containers_are_listed_with_their_health(docker_socket):
    engine = DockerEngine(docker_socket)

    assert {c.name: (c.image, c.state, c.health) for c in engine.containers()} == {
        "web": ("ghcr.io/acme/app:1", "running", "healthy"),
        "console": ("ghcr.io/acme/app:1", "running", "none"),
    }
    assert engine.version()["ApiVersion"] == "1.45"


def test_docker_logs_are_demultiplexed_in_order(docker_socket):
    assert DockerEngine(docker_socket).logs("web", 2) == [
        LogLine("2026-11-23T10:00:00.1Z", "out one"),
        LogLine("2026-11-23T10:00:00.2Z", "err two"),
    ]


def test_docker_logs_of_a_tty_container_are_read_raw(docker_socket):
    assert DockerEngine(docker_socket).logs("console", 2) == [
        LogLine("2026-11-23T10:00:00.1Z", "tty line")
    ]


def test_docker_logs_of_an_unknown_container_are_refused(docker_socket):
    with pytest.raises(NotFound, match="no container named 'db'"):
        DockerEngine(docker_socket).logs("db", 2)


def test_a_missing_docker_socket_is_reported_as_unavailable(tmp_path):
    refusal = r"cannot reach the Docker daemon at .*nothing\.sock"
    with pytest.raises(DockerUnavailable, match=refusal):
        DockerEngine(str(tmp_path / "nothing.sock")).containers()


def test_the_vm_host_reads_docker_through_its_socket(root, vm, docker_socket):
    host = LinuxHost(root, runner=vm, docker=DockerEngine(docker_socket))
    assert host.docker_status() == {
        "status": "running",
        "engine": "docker",
        "version": "26.1.5",
        "api_version": "1.45",
    }
    assert [c.name for c in host.containers()] == ["web", "console"]
