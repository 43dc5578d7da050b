"""A new environment on a real qemu guest: real cloud-init, systemd, sshd, nftables, Docker.

One stack for the module, with a `local` target that chose real VMs; one guest for the
story (deploy, harden seen from outside over SSH, logs, metrics, diagnose, the agent
restarted, upgraded, the guest rebooted), and a second one, started as soon as the
first is deployed so that its boot overlaps the checks, whose agent download has a
corrupted sha256.
Everything the guest does is checked from outside: through VMKit's REST API, over
real SSH as `kamal`, or in the guest's serial console. `kamal` is in the `docker`
group, which is root on that machine: `as_root` uses that, as an operator would, to
read what only root can (nft, `sshd -t`, root's keys). Figures are printed (-s).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Local, ok
from vmkit_local.embedded import CloudStandIns, EmbeddedConfig, build
from vmkit_local.testing import wait_for
from vmkit_local.vm import qemu
from vmkit_local.vm.appimage import base_layer
from vmkit_local.vm.ssh import SshSession, attempt_login

# The first test also stands the guest up (image, boot, deploy): minutes under TCG.
pytestmark = [pytest.mark.vm, pytest.mark.timeout(1200)]

# The agent dials in 1-2 minutes after the server is made under TCG, up to 4-5 on a
# loaded machine; the corrupted guest's deploy waits this long too, in the background.
AGENT_WAIT_S = 420
DEPLOY_S = 600


def say(text: str) -> None:
    print(f"\n[vm] {text}", flush=True)


@dataclass
class Deployed:
    local: Local
    cloud: CloudStandIns
    app: dict[str, Any]
    deploy: dict[str, Any]
    instance: dict[str, Any]
    kamal: SshSession
    corrupted: dict[str, Any]  # the second app, whose deploy got a wrong agent checksum

    @property
    def guest(self):
        return self.cloud.guests.for_ip(self.instance["ip"])

    def as_root(self, command: str) -> str:
        """`command` as root on the guest, from `kamal`'s docker access."""
        chroot = "import os, sys; os.chroot('/host'); os.chdir('/'); os.execv('/bin/sh', ['sh', '-c', sys.argv[1]])"
        done = self.kamal.run(
            "docker run --rm --privileged --pid=host --net=host --volume /:/host "
            f"{base_layer().reference} python3 -c {shlex.quote(chroot)} {shlex.quote(command)}"
        )
        return done.stdout

    def diagnose(self) -> dict[str, Any] | None:
        response = self.local.api.post(f"/api/instances/{self.instance['id']}/diagnose")
        return response.json() if response.status_code == 200 else None

    def agent_pid(self) -> int | None:
        report = self.diagnose()
        return report["agent"]["pid"] if report else None


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Local, CloudStandIns]]:
    config = EmbeddedConfig(
        data_dir=tmp_path_factory.mktemp("vmkit-vm"),
        state_file=None,
        agent_wait_seconds=AGENT_WAIT_S,
        workflow_wait_seconds=DEPLOY_S,
        parameter_overrides={"LogLevel": "WARNING"},
    )
    started = time.monotonic()
    stack, cloud = build(config)
    with stack:
        image = cloud.guests.image()
        say(
            f"guest image {image.digest}: "
            + (f"built in {image.build_seconds:.0f} s" if image.build_seconds else "from the cache")
            + f"; stack up in {time.monotonic() - started:.0f} s"
        )
        api = httpx.Client(
            base_url=stack.app_urls["rest"],
            timeout=60,
            headers={"Authorization": f"Bearer {stack.local_json['api_key']}"},
        )
        # The stack's default stays the sandbox: this target chooses real VMs.
        target = ok(
            api.post(
                "/api/compute-targets",
                json={"name": "qemu", "provider": "local", "local_machine": "vm"},
            )
        )
        # The local workspace holds the App's installation on `acme` (its repos are made
        # after start, as in tests/e2e/conftest.py).
        cloud.connect_account("acme", ok(api.get("/api/auth/me"))["workspace_id"])
        guests_dir = cloud.guests.data_dir / "guests"
        yield Local(stack, cloud, api, target["id"]), cloud
        api.close()
    # Stopping the stack powered every guest off.
    pids = [int(p.read_text()) for p in guests_dir.glob("*/qemu.pid")]
    assert not [pid for pid in pids if Path(f"/proc/{pid}").exists()]


def console_text(guest) -> str:
    """The guest's serial console without systemd's colour codes."""
    return re.sub(r"\x1b\[[0-9;]*m", "", guest.console_log.read_text(errors="replace"))


def start_deploy(local: Local, app: dict[str, Any]) -> dict[str, Any]:
    """Start a deploy, merge its onboarding PR, and return once its server exists."""
    deploy = local.deploy(app["env"]["id"])
    pr = local.wait(
        deploy["id"],
        lambda d: (
            d["status"] == "waiting_for_pr" and "/pull/" in (d["steps"][-1].get("detail") or "")
        ),
        timeout=60,
    )
    assert pr["status"] == "waiting_for_pr"
    local.merge_onboarding_pr(app["repo"].full_name)
    return local.wait(
        deploy["id"],
        lambda d: any(
            s["name"] == "EnsureInstance" and s["status"] == "succeeded" for s in d["steps"]
        ),
        timeout=120,
    )


def publish(local: Local, directory: Path, version: str, *, sha256: str | None = None) -> str:
    """Publish an agent build as an operator does; `sha256` overrides its checksum."""
    from vmkit.adapters.artifacts import publish_agent
    from vmkit_agent.build import build_agent

    build = build_agent(directory, version=version)
    publish_agent(
        local.stack.client("s3"),
        os.environ["AGENT_BUCKET"],
        build.path.read_bytes(),
        sha256=sha256 or build.sha256,
        version=build.version,
    )
    return build.sha256


@pytest.fixture(scope="module")
def deployed(world, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    local, cloud = world
    apps = tmp_path_factory.mktemp("vm-apps")
    app = local.new_app(apps, "guestapp")
    deploy = local.wait(start_deploy(local, app)["id"], timeout=DEPLOY_S)
    _print_steps(deploy)
    assert deploy["status"] == "succeeded", deploy.get("failure")
    # The second guest: its user data carries a checksum the download will not match.
    publish(local, apps / "bad", "99.0.1", sha256="0" * 64)
    corrupted = local.new_app(apps, "badsum")
    corrupted["deploy"] = start_deploy(local, corrupted)
    publish(local, apps / "good", "1.0.1")  # what the next guests (and upgrades) get
    env = ok(local.api.get(f"/api/environments/{app['env']['id']}"))
    instance = ok(local.api.get(f"/api/instances/{env['instance_id']}"))
    guest = cloud.guests.for_ip(instance["ip"])
    assert guest is not None and guest.forwards is not None
    with SshSession(guest.forwards.ssh, "kamal", deploy_key(local)) as kamal:
        yield Deployed(local, cloud, app, deploy, instance, kamal, corrupted)


def deploy_key(local: Local) -> str:
    """The deploy key VMKit made for the target (and set as the Actions secret)."""
    from vmkit.credentials import deploy_private_key
    from vmkit.deps import get_deps
    from vmkit.models import ComputeTarget

    deps = get_deps()
    workspace = json.loads((local.cloud.data_dir / "bootstrap.json").read_text())["workspace_id"]
    target = deps.store.find(ComputeTarget, workspace, local.target_id)
    return deploy_private_key(deps.sealer, target)


def _print_steps(deploy: dict[str, Any]) -> None:
    at = {(s["name"], s["status"]): datetime.fromisoformat(s["at"]) for s in deploy["steps"]}
    created, connected = (
        at.get(("EnsureInstance", "succeeded")),
        at.get(("HardenInstance", "waiting")),
    )
    if created and connected:
        say(f"server created → agent connected: {(connected - created).total_seconds():.0f} s")
    first, last = (
        datetime.fromisoformat(deploy["steps"][0]["at"]),
        datetime.fromisoformat(deploy["steps"][-1]["at"]),
    )
    say(f"deploy: {(last - first).total_seconds():.0f} s, ending {deploy['status']}")


def test_a_new_environment_ends_with_the_app_answering_from_the_guest(deployed: Deployed):
    answer = deployed.local.get_app(deployed.deploy["url"])
    assert answer.status_code == 200
    assert answer.text.startswith("Hello from VMKit!")
    # It is the guest's Docker that serves it, behind its kamal-proxy.
    running = deployed.kamal.run("docker ps --format '{{.Names}} {{.Image}}'").stdout
    assert "kamal-proxy" in running and "guestapp" in running
    # Real cloud-init ran every module of the user data without an error, and grew /.
    assert deployed.kamal.run("cloud-init status").stdout.strip() == "status: done"
    assert int(deployed.kamal.run("df --output=size -k / | tail -1").stdout) > 8 * 1024 * 1024


def test_harden_holds_from_outside_over_ssh(deployed: Deployed):
    guest = deployed.guest
    port = guest.forwards.ssh
    # kamal logs in with the deploy key, and may run docker.
    assert "docker" in deployed.kamal.run("id -nG").stdout.split()
    # Root holds the console key cloud-init gave it, and still may not log in.
    operator_key, operator_public = deployed.cloud.guests.operator_key
    assert operator_public.split()[1] in deployed.as_root("cat /root/.ssh/authorized_keys")
    refused = attempt_login(port, "root", private_key=operator_key.read_text())
    assert refused.startswith("exit 255") and "Permission denied (publickey)" in refused
    # Password (and keyboard-interactive) authentication is not even offered.
    password = attempt_login(
        port,
        "kamal",
        "-o", "PubkeyAuthentication=no",
        "-o", "PreferredAuthentications=password,keyboard-interactive",
    )  # fmt: skip
    assert "Permission denied (publickey)." in password
    effective = deployed.as_root("sshd -t && sshd -T")
    assert "permitrootlogin no" in effective and "passwordauthentication no" in effective
    table = deployed.as_root("nft list table inet vmkit")
    assert "policy drop" in table and "tcp dport { 80, 443 } accept" in table


def test_logs_metrics_and_diagnose_read_the_real_guest(deployed: Deployed):
    api, instance_id = deployed.local.api, deployed.instance["id"]
    deployed.local.get_app(deployed.deploy["url"] + "/logged-request")
    container = next(
        line
        for line in deployed.kamal.run("docker ps --format '{{.Names}}'").stdout.split()
        if line.startswith("guestapp-web-")
    )
    lines = ok(api.get(f"/api/instances/{instance_id}/logs", params={"container": container}))
    assert any("GET /logged-request" in line["text"] for line in lines["lines"])
    docker_lines = deployed.kamal.run(f"docker logs --tail 5 {container} 2>&1").stdout
    assert lines["lines"][-1]["text"].strip() in docker_lines
    metrics = ok(api.post(f"/api/instances/{instance_id}/metrics"))
    assert metrics["container_count"] == 2  # the app and kamal-proxy
    df_pct = int(deployed.kamal.run("df --output=pcent / | tail -1").stdout.strip().rstrip("%"))
    assert abs(metrics["disk_pct"] - df_pct) <= 1
    mem_total_kb = int(deployed.kamal.run("awk '/MemTotal/ {print $2}' /proc/meminfo").stdout)
    assert 0 < metrics["mem_pct"] < 100 and 900_000 < mem_total_kb < 1_100_000
    report = deployed.diagnose()
    assert report is not None and report["agent"]["mode"] == "linux"
    server_version = deployed.kamal.run("docker version --format '{{.Server.Version}}'").stdout
    assert report["docker"]["version"] == server_version.strip()
    rss_kb = deployed.kamal.run(f"ps -o rss= -p {report['agent']['pid']}").stdout.strip()
    say(f"agent RSS in the guest: {int(rss_kb) / 1024:.1f} MB")


def test_the_agent_comes_back_after_systemctl_restart(deployed: Deployed):
    before = deployed.agent_pid()
    assert before is not None
    deployed.as_root("systemctl restart vmkit-agent")
    after = wait_for(
        lambda: (pid := deployed.agent_pid()) not in (None, before) and pid,
        timeout=120,
        interval=1,
        what="the agent to reconnect after systemctl restart",
    )
    assert int(deployed.as_root("systemctl show --property MainPID --value vmkit-agent")) == after


def test_agent_upgrade_ends_in_a_real_systemctl_restart(deployed: Deployed, tmp_path: Path):
    before = deployed.agent_pid()
    sha256 = publish(deployed.local, tmp_path / "next", "99.0.0")
    instance_url = f"/api/instances/{deployed.instance['id']}"
    answer = ok(deployed.local.api.post(f"{instance_url}/upgrade-agent"))
    assert answer["version"] == "99.0.0"
    wait_for(
        lambda: ok(deployed.local.api.get(instance_url))["agent_version"] == "99.0.0",
        timeout=180,
        interval=1,
        what="the agent to come back on 99.0.0",
    )
    report = wait_for(deployed.diagnose, timeout=60, interval=1)
    assert report["agent"]["version"] == "99.0.0" and report["agent"]["pid"] != before
    installed = deployed.kamal.run("sha256sum /usr/local/bin/vmkit-agent").stdout.split()[0]
    assert installed == sha256
    # A clean restart by systemctl, not a crash that Restart=always covered.
    assert (
        deployed.as_root("systemctl show --property NRestarts --value vmkit-agent").strip() == "0"
    )


def test_after_a_reboot_the_firewall_is_loaded_and_the_agent_reconnects(deployed: Deployed):
    boot_id = deployed.kamal.run("cat /proc/sys/kernel/random/boot_id").stdout
    deployed.cloud.guests.reboot(deployed.guest.server_id)
    report = wait_for(
        lambda: (r := deployed.diagnose()) and r["host"]["uptime_s"] < 300 and r,
        timeout=300,
        interval=2,
        what="the agent to reconnect after the reboot",
    )
    assert report["agent"]["version"] == "99.0.0"
    # The SSH master connection died with the guest; a new session logs in again.
    guest = deployed.guest
    with SshSession(guest.forwards.ssh, "kamal", deploy_key(deployed.local)) as kamal:
        deployed.kamal = kamal
        assert kamal.run("cat /proc/sys/kernel/random/boot_id").stdout != boot_id
        assert "tcp dport { 80, 443 } accept" in deployed.as_root("nft list table inet vmkit")
        assert deployed.as_root("systemctl is-enabled vmkit-firewall.service").strip() == "enabled"
        # The app's container (restart: unless-stopped) serves again.
        answer = wait_for(
            lambda: (r := deployed.local.get_app(deployed.deploy["url"])).status_code == 200 and r,
            timeout=120,
            interval=1,
            what="the app to answer after the reboot",
        )
        assert answer.text.startswith("Hello from VMKit!")


def test_a_corrupted_agent_checksum_keeps_the_agent_off_and_fails_at_wait_for_agent(
    deployed: Deployed,
):
    local, app = deployed.local, deployed.corrupted
    deploy = local.wait(app["deploy"]["id"], timeout=AGENT_WAIT_S + 120)
    assert deploy["status"] == "failed"
    assert deploy["failure"]["step"] == "WaitForAgent"
    assert "agent never connected" in deploy["failure"]["reason"]
    env = ok(local.api.get(f"/api/environments/{app['env']['id']}"))
    instance = ok(local.api.get(f"/api/instances/{env['instance_id']}"))
    assert not instance["agent_connected"] and instance["agent_version"] is None
    guest = deployed.cloud.guests.for_ip(instance["ip"])
    console = console_text(guest)
    # cloud-init ran to its end; the checksum failed, so the unit was never started,
    # where the good guest's console shows both the check passing and systemd starting it.
    assert "/usr/local/bin/vmkit-agent: FAILED" in console
    assert "Cloud-init v. 22.4.2 finished" in console
    assert "Started vmkit-agent.service" not in console
    good = console_text(deployed.guest)
    assert "/usr/local/bin/vmkit-agent: OK" in good and "Started vmkit-agent.service" in good
    # Over SSH (root still may: harden never ran), the unit is there and was never started.
    operator_key = deployed.cloud.guests.operator_key[0].read_text()
    with SshSession(guest.forwards.ssh, "root", operator_key) as root:
        assert root.run("systemctl is-enabled vmkit-agent", check=False).stdout.strip() != "enabled"
        assert root.run("systemctl is-active vmkit-agent", check=False).stdout.strip() == "inactive"
        assert root.run("cloud-init status", check=False).stdout.strip() == "status: error"
    # Teardown powers the guest off and deletes its disk.
    pid = int((guest.directory / "qemu.pid").read_text())
    teardown = local.api.delete(f"/api/environments/{env['id']}")
    assert teardown.status_code == 202
    assert local.wait(teardown.json()["id"], timeout=120)["status"] == "succeeded"
    assert not guest.directory.exists()
    assert not qemu.process_alive(pid, qemu.GuestFiles(guest.directory).disk)
