"""Booting sandbox VMs: cloud-init's subset in the root, the agent unit supervised like systemd."""

from __future__ import annotations

import base64
import gzip
import json
import os
import signal
import stat
from pathlib import Path

import pytest
from sandbox_helpers import (
    AGENT_TOKEN,
    FileServer,
    Gateway,
    agent_env,
    process_alive,
    render_user_data,
)

from vmkit_local.sandbox import SandboxFleet, ServerExists, UnknownServer

UNIT = "vmkit-agent.service"


def test_boot_writes_files_downloads_the_agent_and_starts_it_with_the_sandbox_root(
    fleet: SandboxFleet, user_data: str, gateway: Gateway
):
    # Given the cloud-config VMKit renders, When a VM boots with it
    ip = fleet.boot(101, "app-production", user_data, {"vmkit": "managed"})
    result = fleet.wait_for_cloud_init(101)

    # Then cloud-init finished cleanly and wrote its result where cloud-init does
    assert result.ok, result.errors
    root = fleet.root(101)
    assert json.loads((root / "var/lib/cloud/data/result.json").read_text()) == {
        "v1": {"datasource": "DataSourceHetzner", "errors": []}
    }
    assert (root / "var/lib/cloud/instance/boot-finished").exists()
    # write_files landed inside the root with their modes, owners recorded
    env_file = root / "etc/vmkit/agent.env"
    assert env_file.read_text() == agent_env(gateway.url)
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    owners = json.loads((root / "var/lib/vmkit-sandbox/owners.json").read_text())
    assert owners["/etc/vmkit/agent.env"] == "root:root"
    # the download was verified and made executable, the unit enabled
    assert stat.S_IMODE((root / "usr/local/bin/vmkit-agent").stat().st_mode) == 0o755
    wants = root / "etc/systemd/system/multi-user.target.wants" / UNIT
    assert os.readlink(wants) == f"/etc/systemd/system/{UNIT}"
    # packages are recorded, not installed; docker.io's group exists for the deploy user
    assert "docker:" in (root / "etc/group").read_text()
    # And the agent runs with the environment file and VMKIT_ROOT pointing at the root
    started = gateway.next_agent()
    assert started["env"]["VMKIT_ROOT"] == str(root)
    assert started["env"]["VMKIT_AGENT_TOKEN"] == AGENT_TOKEN
    assert started["argv"] == [str(root / "usr/local/bin/vmkit-agent")]
    assert fleet.supervisor(101).main_pid(UNIT) == started["pid"]
    assert ip.startswith("203.0.113.")
    assert fleet.vm(101).labels == {"vmkit": "managed"}
    output = (root / "var/log/cloud-init-output.log").read_text()
    assert "/usr/local/bin/vmkit-agent: OK" in output


def test_each_vm_gets_its_own_ip_and_a_destroyed_vms_ip_is_not_reused_next(fleet: SandboxFleet):
    first = fleet.boot(1, "one", None)
    second = fleet.boot(2, "two", None)
    fleet.destroy(1)
    third = fleet.boot(3, "three", None)

    assert len({first, second, third}) == 3
    assert fleet.root_for_ip(second) == fleet.root(2)
    assert fleet.root_for_ip(first) is None


def test_a_bad_checksum_fails_cloud_init_and_starts_nothing(
    fleet: SandboxFleet, file_server: FileServer
):
    user_data = render_user_data(file_server.url("/vmkit-agent"), "0" * 64)

    fleet.boot(7, "tampered", user_data)
    result = fleet.wait_for_cloud_init(7)

    assert result.status == "error"
    (error,) = result.errors
    # the install is one `&&` chain: the failed check stops it before chmod and enable
    assert error.startswith("runcmd[0] 'sh -c curl")
    assert "1 computed checksum did NOT match" in error
    root = fleet.root(7)
    assert not (root / "var/lib/fixture-agent").exists()
    assert not fleet.supervisor(7).is_active(UNIT)
    assert not (root / "etc/systemd/system/multi-user.target.wants").exists()
    result_json = json.loads((root / "var/lib/cloud/data/result.json").read_text())
    assert result_json["v1"]["errors"] == [error]
    assert (
        "/usr/local/bin/vmkit-agent: FAILED" in (root / "var/log/cloud-init-output.log").read_text()
    )


@pytest.mark.parametrize(
    ("runcmd", "expected"),
    [
        (
            ["apt-get install -y docker.io"],
            "runcmd[0]: shell string 'apt-get install -y docker.io'",
        ),
        ([["apt-get", "install", "-y", "nginx"]], "command 'apt-get' is not interpreted"),
        ([["systemctl", "stop", "ssh"]], "'stop ssh' is not interpreted"),
        ([["curl", "-k", "-o", "/tmp/x", "http://127.0.0.1:9/x"]], "curl option '-k'"),
        ([["chmod", "-R", "0755", "/etc"]], "chmod: the sandbox runs 'chmod MODE FILE...'"),
        ([["sh", "-c", "systemctl daemon-reload; rm -rf /"]], "shell operator ';'"),
        ([["sh", "-c", "curl -o /x $(cat /etc/url)"]], "substitution in '$' is not interpreted"),
        (
            [["sh", "-c", "systemctl daemon-reload && apt-get install x"]],
            "command 'apt-get' is not interpreted",
        ),
        ([["sh", "script.sh"]], "only `sh -c"),
    ],
)
def test_a_runcmd_entry_outside_the_subset_is_refused_naming_the_entry(
    fleet: SandboxFleet, runcmd: list, expected: str
):
    user_data = render_user_data("http://127.0.0.1:9/agent", "0" * 64, runcmd=runcmd)

    fleet.boot(8, "refused", user_data)
    result = fleet.wait_for_cloud_init(8)

    assert result.status == "error"
    assert expected in result.errors[0]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"users": [{"name": "eve"}]}, "users: cloud-config key 'users' is not interpreted"),
        (
            {"write_files": [{"path": "/etc/x", "content": "x", "defer": True}]},
            "write_files[0]: key 'defer' is not interpreted",
        ),
        (
            {"write_files": [{"path": "/etc/x", "content": "x", "encoding": "rot13"}]},
            "write_files[0]: unknown encoding 'rot13'",
        ),
    ],
)
def test_cloud_config_outside_the_subset_is_refused_before_anything_runs(
    fleet: SandboxFleet, file_server: FileServer, overrides: dict, expected: str
):
    user_data = render_user_data(file_server.url("/vmkit-agent"), "0" * 64, **overrides)

    fleet.boot(9, "refused", user_data)
    result = fleet.wait_for_cloud_init(9)

    assert len(result.errors) == 1
    assert expected in result.errors[0]
    assert file_server.requests == []


def test_write_files_decodes_base64_and_gzip(fleet: SandboxFleet):
    packed = base64.b64encode(gzip.compress(b"compressed\n")).decode()
    user_data = render_user_data(
        "http://127.0.0.1:9/x",
        "0" * 64,
        write_files=[
            {
                "path": "/etc/a.txt",
                "content": base64.b64encode(b"plain\n").decode(),
                "encoding": "b64",
            },
            {
                "path": "/etc/b.txt",
                "content": packed,
                "encoding": "gzip+b64",
                "permissions": "0640",
            },
        ],
        runcmd=[],
    )

    fleet.boot(10, "decode", user_data)

    assert fleet.wait_for_cloud_init(10).ok
    root = fleet.root(10)
    assert (root / "etc/a.txt").read_bytes() == b"plain\n"
    assert (root / "etc/b.txt").read_bytes() == b"compressed\n"
    assert stat.S_IMODE((root / "etc/b.txt").stat().st_mode) == 0o640


def test_a_path_that_climbs_out_of_the_root_is_refused(fleet: SandboxFleet, tmp_path: Path):
    user_data = render_user_data(
        "http://127.0.0.1:9/x",
        "0" * 64,
        write_files=[{"path": "/etc/../../../escaped.txt", "content": "x"}],
        runcmd=[],
    )

    fleet.boot(11, "escape", user_data)
    result = fleet.wait_for_cloud_init(11)

    assert result.status == "error"
    assert "climbs above the VM's root directory" in result.errors[0]
    assert not list(tmp_path.rglob("escaped.txt"))


def test_curl_retries_a_transient_error_and_fails_clearly_on_404(
    fleet: SandboxFleet, file_server: FileServer, agent_sha256: str
):
    file_server.responses["/vmkit-agent"] = [503]
    fleet.boot(12, "retry", render_user_data(file_server.url("/vmkit-agent"), agent_sha256))
    assert fleet.wait_for_cloud_init(12).ok
    assert file_server.requests == ["/vmkit-agent", "/vmkit-agent"]

    fleet.boot(13, "missing", render_user_data(file_server.url("/nope"), agent_sha256))
    result = fleet.wait_for_cloud_init(13)
    assert "curl: (22) The requested URL returned error: 404" in result.errors[0]


def test_the_unit_restarts_when_its_process_exits(
    fleet: SandboxFleet, user_data: str, gateway: Gateway
):
    fleet.boot(20, "restarts", user_data)
    first_pid = gateway.next_agent()["pid"]

    os.kill(first_pid, signal.SIGKILL)

    second_pid = gateway.next_agent()["pid"]
    assert second_pid != first_pid
    assert fleet.supervisor(20).main_pid(UNIT) == second_pid
    journal = (fleet.root(20) / "var/log/journal/vmkit-agent.log").read_text()
    assert "vmkit-agent.service: Main process exited, code=killed, status=9/KILL" in journal
    assert "Scheduled restart job, restart counter is at 1." in journal
    # the first run's output was collected before its exit was logged
    assert f"vmkit-agent[{first_pid}]: fixture agent started as pid {first_pid}" in journal


def test_destroy_stops_every_process_and_removes_the_vm(
    fleet: SandboxFleet, user_data: str, gateway: Gateway
):
    fleet.boot(30, "doomed", user_data)
    pid = gateway.next_agent()["pid"]
    vm_dir = fleet.root(30).parent

    fleet.destroy(30)

    assert not process_alive(pid)
    assert not vm_dir.exists()
    with pytest.raises(UnknownServer):
        fleet.vm(30)
    with pytest.raises(UnknownServer):
        fleet.destroy(30)


def test_power_off_stops_the_agent_and_power_on_starts_it_without_rerunning_cloud_init(
    fleet: SandboxFleet, user_data: str, file_server: FileServer, gateway: Gateway
):
    ip = fleet.boot(40, "cycled", user_data)
    pid = gateway.next_agent()["pid"]

    fleet.power_off(40)
    assert not process_alive(pid)
    assert fleet.vm(40).power == "off"
    assert fleet.root_for_ip(ip) is None

    fleet.power_on(40)
    assert gateway.next_agent()["pid"] != pid
    assert file_server.requests == ["/vmkit-agent"]  # cloud-init ran once, at first boot


def test_a_restarted_fleet_resumes_the_vms_that_were_running(
    tmp_path: Path, user_data: str, gateway: Gateway
):
    data_dir = tmp_path / "data"
    with SandboxFleet(data_dir, time_scale=0.01) as fleet:
        ip = fleet.boot(50, "persistent", user_data)
        first_pid = gateway.next_agent()["pid"]
    assert not process_alive(first_pid)

    with SandboxFleet(data_dir, time_scale=0.01) as fleet:
        fleet.resume()
        assert fleet.vm(50).ip == ip
        assert gateway.next_agent()["env"]["VMKIT_ROOT"] == str(fleet.root(50))


def test_cloud_init_cut_short_by_a_power_off_runs_again_at_the_next_boot(
    tmp_path: Path, file_server: FileServer, user_data: str, gateway: Gateway
):
    file_server.responses["/vmkit-agent"] = [503]  # curl waits a real second to retry
    with SandboxFleet(tmp_path / "data", time_scale=1.0) as fleet:
        fleet.boot(70, "interrupted", user_data)
        assert file_server.requested.wait(10)

        fleet.power_off(70)
        assert fleet.wait_for_cloud_init(70).status == "running"
        fleet.power_on(70)

        assert fleet.wait_for_cloud_init(70).ok
        assert gateway.next_agent()["env"]["VMKIT_ROOT"] == str(fleet.root(70))


def test_booting_an_existing_server_id_is_a_conflict(fleet: SandboxFleet):
    fleet.boot(60, "first", None)
    with pytest.raises(ServerExists):
        fleet.boot(60, "again", None)
