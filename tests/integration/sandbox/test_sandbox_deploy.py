"""The simulated Actions run: build + kamal deploy onto a sandbox VM, served by the router."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sandbox_helpers import (
    APP_HOST,
    DeployTarget,
    deploy_config,
    eventually,
    new_deploy_key,
    process_alive,
    write_app,
)

from vmkit_local.sandbox import RouterServer, run_deploy_workflow
from vmkit_local.sandbox.containers import list_containers
from vmkit_local.sandbox.proxy import read_routes


def deploy(target: DeployTarget, checkout: Path, **secret_overrides: str) -> tuple[str, str]:
    secrets = {**target.secrets, **secret_overrides}
    return run_deploy_workflow(checkout, secrets, {"deploy_id": "dep_01"}, target.resolve_vm)


def get(router: RouterServer, path: str = "/", host: str = APP_HOST) -> httpx.Response:
    """A request to http://{host}:{port}: connect to loopback, name the app in Host."""
    return httpx.get(f"http://127.0.0.1:{router.port}{path}", headers={"Host": host})


def running(target: DeployTarget) -> list[dict]:
    return [c for c in list_containers(target.root) if c["state"] == "running"]


def test_a_deploy_succeeds_and_the_router_serves_the_app(
    target: DeployTarget, router: RouterServer, tmp_path: Path
):
    checkout = write_app(tmp_path / "repo", "v1", deploy_config(target.ip))

    conclusion, log = deploy(target, checkout)

    assert conclusion == "success", log
    response = get(router)
    assert response.status_code == 200
    assert response.text == "hello from v1"
    # env.clear as-is, env.secret from the secrets, PORT from the runtime
    assert get(router, "/env/GREETING").text == "hi"
    assert get(router, "/env/SECRET_KEY_BASE").text == "sk_live_abcdef123456"
    (container,) = running(target)
    assert container["health"] == "healthy"
    assert container["labels"] == {"service": "hello", "role": "web", "destination": ""}
    assert container["image"].startswith("ghcr.io/acme/hello:")
    version = container["image"].rsplit(":", 1)[1]
    assert container["name"] == f"hello-web-{version}"
    assert read_routes(target.root) == {
        APP_HOST: {"container": container["name"], "port": container["port"], "healthcheck": "/up"}
    }
    image_dir = target.root / "var/lib/vmkit-sandbox/images/ghcr.io/acme/hello" / version
    assert (image_dir / "workspace/app.py").is_file()
    logs = (target.root / f"var/lib/vmkit-sandbox/containers/{container['name']}.log").read_text()
    assert "app v1 listening on" in logs
    # the log reads like Kamal's, and no secret value is in it
    assert "Build and push app image..." in log
    assert "First web container is healthy on 203.0.113." in log
    assert "##[group]Run kamal deploy" in log
    key_lines = target.key.private_openssh.splitlines()[1:-1]
    for secret in [target.secrets["KAMAL_REGISTRY_PASSWORD"], "sk_live_abcdef123456", *key_lines]:
        assert secret not in log


def test_a_second_deploy_switches_with_zero_failed_requests(
    target: DeployTarget, router: RouterServer, tmp_path: Path
):
    checkout = write_app(tmp_path / "repo", "v1", deploy_config(target.ip))
    assert deploy(target, checkout)[0] == "success"
    (old,) = running(target)

    bodies: Counter[str] = Counter()
    failures: list[str] = []
    seen = threading.Condition()
    stop = threading.Event()

    def hammer() -> None:
        url = f"http://127.0.0.1:{router.port}/"
        with httpx.Client(headers={"Host": APP_HOST}, timeout=10) as client:
            while not stop.is_set():
                try:
                    response = client.get(url)
                    outcome = response.text if response.status_code == 200 else None
                except httpx.HTTPError as error:
                    outcome, response = None, error
                with seen:
                    if outcome is None:
                        failures.append(repr(response))
                    else:
                        bodies[outcome] += 1
                    seen.notify_all()

    clients = [threading.Thread(target=hammer) for _ in range(2)]
    for client in clients:
        client.start()
    try:
        with seen:
            assert seen.wait_for(lambda: bodies["hello from v1"] >= 20, timeout=10)
        write_app(checkout, "v2", deploy_config(target.ip))
        conclusion, log = deploy(target, checkout)
        with seen:
            after_deploy = bodies["hello from v2"]
            assert seen.wait_for(lambda: bodies["hello from v2"] >= after_deploy + 20, timeout=10)
    finally:
        stop.set()
        for client in clients:
            client.join()

    assert conclusion == "success", log
    assert failures == []
    assert bodies["hello from v1"] >= 20 and bodies["hello from v2"] >= 20
    (new,) = running(target)
    assert new["name"] != old["name"]
    assert not process_alive(old["pid"])
    assert f"docker container stop {old['name']}" in log


def test_the_version_is_the_commit_of_a_git_checkout(target: DeployTarget, tmp_path: Path):
    checkout = write_app(tmp_path / "repo", "v1", deploy_config(target.ip))
    git = ["git", "-C", str(checkout), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "v1"], check=True)
    sha = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True)

    conclusion, log = deploy(target, checkout)

    assert conclusion == "success", log
    assert running(target)[0]["name"] == f"hello-web-{sha.stdout.strip()}"


def test_redeploying_the_same_version_replaces_the_running_container(
    target: DeployTarget, router: RouterServer, tmp_path: Path
):
    checkout = write_app(tmp_path / "repo", "v1", deploy_config(target.ip))
    assert deploy(target, checkout)[0] == "success"
    (first,) = running(target)

    conclusion, log = deploy(target, checkout)

    assert conclusion == "success", log
    (second,) = running(target)
    assert second["name"] == first["name"] and second["pid"] != first["pid"]
    assert "as already deployed on" in log
    assert get(router).text == "hello from v1"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            {"proxy": {"ssl": True, "app_port": 8000}},
            "proxy: Must set a host to enable automatic SSL",
        ),
        ({"builder": {}}, "builder: Builder arch not set"),
        ({"service": None}, "Missing required configuration for service"),
        ({"image": None}, "Missing required configuration for image"),
        ({"servers": {"workers": ["203.0.113.9"]}}, "The primary_role web isn't defined"),
        ({"proxy": {"host": "a.localhost", "helthcheck": {}}}, "proxy: unknown key: helthcheck"),
        (
            {"proxy": {"host": "a", "hosts": ["b"]}},
            "proxy: Specify one of 'host' or 'hosts', not both",
        ),
        ({"deploy_timeout": "soon"}, "deploy_timeout: should be an integer"),
        ({"registry": {"server": "ghcr.io"}}, "registry/username: is required"),
        ({"service": "hello world"}, "Service name can only include alphanumeric characters"),
        (
            {"env": {"secret": ["DATABASE_URL"]}},
            "Secret 'DATABASE_URL' not found in .kamal/secrets",
        ),
    ],
)
def test_a_broken_deploy_yml_fails_the_run_with_kamals_reason(
    target: DeployTarget, tmp_path: Path, change: dict, reason: str
):
    config = deploy_config(target.ip, **change)
    config = {key: value for key, value in config.items() if value is not None}
    checkout = write_app(tmp_path / "repo", "v1", config)

    conclusion, log = deploy(target, checkout)

    assert conclusion == "failure"
    assert f"ERROR (Kamal::ConfigurationError): {reason}" in log
    assert "##[error]Process completed with exit code 1." in log
    assert running(target) == []


def test_a_missing_deploy_yml_fails_the_run(target: DeployTarget, tmp_path: Path):
    checkout = write_app(tmp_path / "repo", "v1", deploy_config(target.ip))
    (checkout / "config/deploy.yml").unlink()

    conclusion, log = deploy(target, checkout)

    assert conclusion == "failure"
    assert "Configuration file not found in deploy.yml" in log


def test_no_procfile_fails_the_build_clearly(target: DeployTarget, tmp_path: Path):
    checkout = write_app(tmp_path / "repo", "v1", deploy_config(target.ip))
    (checkout / "Procfile").unlink()

    conclusion, log = deploy(target, checkout)

    assert conclusion == "failure"
    assert "ERROR: No buildpack groups passed detection." in log
    assert "buildpack detection failed: there is no Procfile" in log


def test_a_vm_without_the_kamal_user_denies_the_deploy(fleet, tmp_path: Path):
    ip = fleet.boot("bare", "bare", "#cloud-config\npackages: [docker.io]\n")
    assert fleet.wait_for_cloud_init("bare").ok
    bare = DeployTarget(fleet, ip, fleet.root("bare"), new_deploy_key())
    checkout = write_app(tmp_path / "repo", "v1", deploy_config(ip))

    conclusion, log = deploy(bare, checkout)

    assert conclusion == "failure"
    assert f"kamal@{ip}: Permission denied (publickey)." in log
    assert running(bare) == []


def test_the_wrong_deploy_key_is_denied(target: DeployTarget, tmp_path: Path):
    checkout = write_app(tmp_path / "repo", "v1", deploy_config(target.ip))
    other_key = new_deploy_key()

    conclusion, log = deploy(target, checkout, VMKIT_SSH_PRIVATE_KEY=other_key.private_openssh)

    assert conclusion == "failure"
    assert "Permission denied (publickey)" in log
    assert f"Authentication failed for user kamal@{target.ip}" in log


def test_a_deploy_user_outside_the_docker_group_cannot_deploy(target: DeployTarget, tmp_path: Path):
    group = (target.root / "etc/group").read_text().replace(":kamal", ":")
    (target.root / "etc/group").write_text(group)
    checkout = write_app(tmp_path / "repo", "v1", deploy_config(target.ip))

    conclusion, log = deploy(target, checkout)

    assert conclusion == "failure"
    assert "permission denied while trying to connect to the Docker daemon socket" in log


def test_an_unknown_server_times_out_like_ssh(target: DeployTarget, tmp_path: Path):
    checkout = write_app(tmp_path / "repo", "v1", deploy_config("203.0.113.250"))

    conclusion, log = deploy(target, checkout)

    assert conclusion == "failure"
    assert "ssh: connect to host 203.0.113.250 port 22: Connection timed out" in log


def test_a_failing_health_check_keeps_the_old_version_serving(
    target: DeployTarget, router: RouterServer, tmp_path: Path
):
    config = deploy_config(target.ip, deploy_timeout=1)
    checkout = write_app(tmp_path / "repo", "v1", config)
    assert deploy(target, checkout)[0] == "success"
    routes_before = read_routes(target.root)

    write_app(checkout, "v2", config, health_status=503)
    conclusion, log = deploy(target, checkout)

    assert conclusion == "failure"
    assert "target failed to become healthy within configured timeout (1s)" in log
    assert "ERROR Failed to boot web on" in log
    assert '"GET /up HTTP/1.1" 503' in log  # the new container's own log, shown as Kamal does
    assert read_routes(target.root) == routes_before
    assert get(router).text == "hello from v1"
    outcomes = sorted((c["state"], c["health"]) for c in list_containers(target.root))
    assert outcomes == [("exited", "unhealthy"), ("running", "healthy")]


def test_a_container_that_crashes_fails_the_deploy_at_once(target: DeployTarget, tmp_path: Path):
    checkout = write_app(tmp_path / "repo", "v1", deploy_config(target.ip, deploy_timeout=30))
    (checkout / "Procfile").write_text(
        "web: python3 -c 'raise SystemExit(\"boom: no database\")'\n"
    )

    conclusion, log = deploy(target, checkout)

    assert conclusion == "failure"
    assert "container exited with code 1 before becoming healthy" in log
    assert "boom: no database" in log


def test_a_held_deploy_lock_refuses_a_concurrent_deploy(target: DeployTarget, tmp_path: Path):
    checkout = write_app(tmp_path / "repo", "v1", deploy_config(target.ip))
    lock = target.root / "home/kamal/.kamal/lock-hello"
    lock.mkdir(parents=True)
    (lock / "pid").write_text("1")  # a live process holds it

    conclusion, log = deploy(target, checkout)

    assert conclusion == "failure"
    assert "Deploy lock found" in log


def test_old_stopped_containers_are_pruned_to_retain_containers(
    target: DeployTarget, tmp_path: Path
):
    config = deploy_config(target.ip, retain_containers=1, drain_timeout=1)
    checkout = write_app(tmp_path / "repo", "v1", config)
    for version in ("v1", "v2", "v3"):
        write_app(checkout, version, config)
        assert deploy(target, checkout)[0] == "success"

    states = list_containers(target.root)
    assert [s["state"] for s in states] == ["exited", "running"]
    images = target.root / "var/lib/vmkit-sandbox/images/ghcr.io/acme/hello"
    assert sorted(p.name for p in images.iterdir()) == sorted(
        s["image"].rsplit(":", 1)[1] for s in states
    )


def test_destroying_the_vm_stops_its_containers(target: DeployTarget, tmp_path: Path):
    checkout = write_app(tmp_path / "repo", "v1", deploy_config(target.ip))
    assert deploy(target, checkout)[0] == "success"
    (container,) = running(target)

    target.fleet.destroy("web1")

    assert not process_alive(container["pid"])


def test_a_reboot_starts_the_app_again(target: DeployTarget, router: RouterServer, tmp_path: Path):
    checkout = write_app(tmp_path / "repo", "v1", deploy_config(target.ip))
    assert deploy(target, checkout)[0] == "success"
    (before,) = running(target)

    target.fleet.reboot("web1")

    (after,) = running(target)
    assert after["name"] == before["name"] and after["pid"] != before["pid"]
    # like docker's unless-stopped containers after a reboot, it serves once it is up again
    assert eventually(lambda: get(router).status_code == 200)
    assert get(router).text == "hello from v1"


def test_a_rollback_deploys_the_registry_image_without_building_and_fails_if_it_is_gone(
    target: DeployTarget, router: RouterServer, tmp_path: Path
):
    registry = tmp_path / "ghcr"
    checkout = tmp_path / "repo"

    def run(version: str | None = None, rollback: str = "") -> tuple[str, str]:
        secrets = {**target.secrets, **({"VERSION": version} if version else {})}
        return run_deploy_workflow(
            checkout,
            secrets,
            {"deploy_id": "dep_01", "version": rollback},
            target.resolve_vm,
            masked=target.secrets.values(),  # GitHub masks secrets, not the job's VERSION
            registry=registry,
            image_check={"ROLLBACK_VERSION": rollback},
        )

    write_app(checkout, "v1", deploy_config(target.ip))
    assert run()[0] == "success"
    (v1,) = running(target)
    v1_version = v1["image"].rsplit(":", 1)[1]
    assert (registry / "ghcr.io/acme/hello" / v1_version / "config.json").is_file()  # pushed
    write_app(checkout, "v2", deploy_config(target.ip))
    conclusion, log = run()
    assert conclusion == "success" and "Build and push app image..." in log
    assert get(router).text == "hello from v2"

    conclusion, log = run(v1_version, rollback=v1_version)  # the checkout is still v2

    assert conclusion == "success", log
    assert get(router).text == "hello from v1"
    assert f"ghcr.io/acme/hello:{v1_version} is in the registry: not building it again" in log
    assert "Build and push app image..." not in log and "===> BUILDING" not in log

    (v2_image,) = [p for p in (registry / "ghcr.io/acme/hello").iterdir() if p.name != v1_version]
    shutil.rmtree(v2_image)  # deleted from GHCR (retention policy, or by hand)
    conclusion, log = run(v2_image.name, rollback=v2_image.name)

    assert conclusion == "failure"
    assert (
        f"##[error]the image ghcr.io/acme/hello:{v2_image.name} is no longer in the registry" in log
    )
    assert "===> BUILDING" not in log  # the checkout is not built under another version
    assert get(router).text == "hello from v1"  # the running release keeps serving
