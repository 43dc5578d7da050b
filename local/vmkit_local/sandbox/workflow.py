"""The simulated Actions run of `vmkit-deploy.yml`: buildpacks build → GHCR → `kamal deploy`.

`run_deploy_workflow` does on the local machine what the generated workflow does on
GitHub's runners, with the same inputs that decide its outcome there:
- `config/deploy.yml` is loaded and validated with Kamal 2's rules;
- the image is built by the buildpacks stand-in and "pushed" (pulled onto each VM);
- each server is reached "over SSH": the deploy user and key must be accepted by the
  VM's files as sshd would, and the user must be able to run docker;
- the new container starts beside the old one, must pass its health check within
  `deploy_timeout`, then the route switches atomically, the old container drains and
  stops. A failed health check stops the new container and leaves the old one serving.

The log reads like the real job log (Kamal's and pack's own lines), so the "Actions log
URL" a failed deploy points at shows the reason.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets as token
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from vmkit_local.sandbox import containers, proxy
from vmkit_local.sandbox.actions_log import ActionsLog
from vmkit_local.sandbox.buildpacks import (
    IMAGES_DIR,
    Image,
    build_image,
    pull_image,
    push_image,
    registry_image,
)
from vmkit_local.sandbox.errors import SandboxError
from vmkit_local.sandbox.kamal_config import KamalConfig, ProxySettings, load_config
from vmkit_local.sandbox.kamal_secrets import KamalSecrets
from vmkit_local.sandbox.rootfs import passwd_entry, resolve_in_root
from vmkit_local.sandbox.ssh import SshDenied, check_docker_access, check_ssh_login

log = logging.getLogger(__name__)

Conclusion = Literal["success", "failure"]
_HEALTH_POLL_SECONDS = 0.1  # kamal-proxy checks every second; locally there is no reason to idle
# Between switching the route and draining: a request that read the old route just
# before the switch gets this long to open its connection, after which it counts.
_SWITCH_GRACE_SECONDS = 0.2
_DEFAULT_STOP_TIMEOUT = 10  # docker stop's default
_LOG_LINES_ON_FAILURE = 20
MIN_SCALED_WAIT_S = 3.0
_SSH_KEY_SECRET = "VMKIT_SSH_PRIVATE_KEY"  # noqa: S105 (a secret's name, not its value)


class DeployFailed(Exception):
    """The run fails with this message as Kamal's final ERROR line."""


class WorkflowError(DeployFailed):
    """A workflow step's own `::error::` (not Kamal's): the log's `##[error]` line."""


@dataclass
class _Server:
    host: str
    root: Path


def run_deploy_workflow(
    checkout_dir: Path,
    secrets: Mapping[str, str],
    inputs: Mapping[str, Any],
    resolve_vm: Callable[[str], Path | None],
    masked: Iterable[str] | None = None,
    time_scale: float = 1.0,
    run_class: type[DeployRun] | None = None,
    registry: Path | None = None,
    image_check: Mapping[str, str] | None = None,
) -> tuple[Conclusion, str]:
    """Run the deploy job; return its conclusion and its log (secrets masked).

    `secrets` is the environment the workflow's deploy step gets (the repository's
    Actions secrets, GITHUB_TOKEN); `inputs` are the dispatch inputs (`deploy_id`, and
    `destination` for a Kamal destination); `resolve_vm` maps a `servers` host to the
    sandbox VM's root, or None when nothing answers there. `masked` are the values the
    log hides (GitHub masks secrets, not every variable); by default all of `secrets`.
    `time_scale` shortens the deploy's waits (health check, drain) as the fleet's does
    systemd's, never below a few seconds. `run_class` is the run to use instead of the
    sandbox's (the real-VM target's runs over SSH). `registry` is the GHCR stand-in the
    build publishes to; `image_check` is the env of the workflow's step that looks for
    the image there (`docker manifest inspect`), None when the workflow has none (it
    then builds every time, as such a workflow does).
    """
    actions_log = ActionsLog(secrets.values() if masked is None else masked)
    run = (run_class or DeployRun)(
        Path(checkout_dir), secrets, inputs, resolve_vm, actions_log, time_scale
    )
    run.registry, run.image_check = registry, image_check
    try:
        run.run()
    except WorkflowError as error:
        actions_log.error(str(error))
        actions_log.end_group()
        actions_log.error("Process completed with exit code 1.")
        return "failure", actions_log.text()
    except DeployFailed as error:
        actions_log.line(f"  ERROR {error}")
        actions_log.end_group()
        actions_log.error("Process completed with exit code 1.")
        return "failure", actions_log.text()
    except Exception as error:  # a bug in the runner must still end the run, visibly
        log.exception("local deploy runner crashed")
        actions_log.error(f"The local runner failed: {type(error).__name__}: {error}")
        return "failure", actions_log.text()
    return "success", actions_log.text()


class DeployRun:
    registry: Path | None = None
    image_check: Mapping[str, str] | None = None

    def __init__(
        self,
        checkout: Path,
        secrets: Mapping[str, str],
        inputs: Mapping[str, Any],
        resolve_vm: Callable[[str], Path | None],
        actions_log: ActionsLog,
        time_scale: float = 1.0,
    ):
        self.checkout = checkout
        self.secrets = secrets
        self.inputs = inputs
        self.resolve_vm = resolve_vm
        self.log = actions_log
        self.time_scale = time_scale
        self.started = time.monotonic()

    def run(self) -> None:
        self.log.group("Set up job")
        self.log.line("Current runner version: '2.321.0' (VMKit local runner)")
        self.log.line("Runner name: 'vmkit-local'")
        shown_inputs = ", ".join(f"{k}={v}" for k, v in sorted(self.inputs.items())) or "none"
        self.log.line(f"Inputs: {shown_inputs}")
        self.log.end_group()
        self.log.group("Run actions/checkout@v4")
        checked_out = _version_of(self.checkout)
        self.log.line(f"Checked out {checked_out}")
        # The workflow's VERSION: the commit, or the image a rollback names.
        version = self.secrets.get("VERSION") or checked_out
        self.log.end_group()
        destination = self.inputs.get("destination") or None
        command = "kamal deploy" + (f" -d {destination}" if destination else "")
        self.log.group(f"Run {command}")
        config, kamal_secrets = self._load_config(destination)
        self._deploy(config, kamal_secrets, version)
        self.log.line(f"  Finished all in {time.monotonic() - self.started:.1f} seconds")
        self.log.end_group()
        self.log.group("Complete job")
        self.log.line("Cleaning up orphan processes")
        self.log.end_group()

    def _deploy(self, config: KamalConfig, kamal_secrets: KamalSecrets, version: str) -> None:
        """Kamal's deploy proper: build, reach the servers, boot the new version on each."""
        with tempfile.TemporaryDirectory(prefix="vmkit-build-") as build_dir:
            image = self._build(config, kamal_secrets, version, Path(build_dir))
            servers = [self._connect(config, kamal_secrets, host) for host in config.hosts]
            self._say("Acquiring the deploy lock...")
            with _DeployLock(servers[0], config, version, self.log):
                self._say("Ensure kamal-proxy is running...")
                for server in servers:
                    self._ensure_proxy(config, server)
                self._say("Detect stale containers...")
                for server in servers:
                    self._boot(config, kamal_secrets, image, server)
                self._say("Prune old containers and images...")
                for server in servers:
                    self._prune(config, server)
                self._say("Releasing the deploy lock...")

    def _scaled(self, seconds: float) -> float:
        return (
            seconds if self.time_scale >= 1 else max(MIN_SCALED_WAIT_S, seconds * self.time_scale)
        )

    # steps ------------------------------------------------------------------------------

    def _load_config(self, destination: str | None) -> tuple[KamalConfig, KamalSecrets]:
        try:
            config = load_config(self.checkout, destination, env=self.secrets)
            kamal_secrets = KamalSecrets(
                self.checkout, config.secrets_path, destination, self.secrets
            )
            self.log.add_mask(*kamal_secrets.values())
            kamal_secrets.require(name.split(":")[-1] for name in config.env_secret)
        except SandboxError as error:
            raise DeployFailed(f"(Kamal::ConfigurationError): {error.message}") from None
        return config, kamal_secrets

    def _build(
        self, config: KamalConfig, kamal_secrets: KamalSecrets, version: str, build_dir: Path
    ) -> Image:
        self._registry_login(config, kamal_secrets)
        if self.image_check is not None:
            found = self._find_image(config, version)
            if found is not None:
                return found
        self._say("Build and push app image...")
        pack = (
            f"pack build {config.repository}:{version} --platform linux/{config.builder_arch[0]} "
            "--builder paketobuildpacks/builder-jammy-base --publish"
        )
        with self._command(pack, "localhost"):
            try:
                built = build_image(self.checkout, config.repository, version, build_dir, self.log)
            except SandboxError as error:
                message = f"(SSHKit::Command::Failed): pack exit status: 1\n{error.message}"
                raise DeployFailed(message) from None
        return push_image(built, self.registry) if self.registry is not None else built

    def _find_image(self, config: KamalConfig, version: str) -> Image | None:
        """The workflow's registry step: reuse the image, or stop a rollback whose image
        is gone (building the checkout would deploy other code under that version)."""
        reference = f"{config.repository}:{version}"
        with self._command(f"docker manifest inspect {reference}", "localhost"):
            found = registry_image(self.registry, config.repository, version)
        if found is not None:
            self._say(f"{reference} is in the registry: not building it again")
            return found
        if (self.image_check or {}).get("ROLLBACK_VERSION"):
            raise WorkflowError(
                f"the image {reference} is no longer in the registry (deleted or expired), "
                "so this rollback cannot deploy it; deploy its commit again to rebuild it"
            )
        return None

    def _registry_login(self, config: KamalConfig, kamal_secrets: KamalSecrets) -> None:
        self._say("Log into image registry...")
        username = self._credential(config.registry_username, kamal_secrets)
        password = self._credential(config.registry_password, kamal_secrets)
        registry = config.registry_server or "docker.io"
        with self._command(f"docker login {registry} -u [REDACTED] -p [REDACTED]", "localhost"):
            if not registry.startswith("localhost") and not (username and password):
                raise DeployFailed(
                    f"(SSHKit::Command::Failed): docker login {registry}: unauthorized"
                )

    def _credential(self, value: str | list[str] | None, kamal_secrets: KamalSecrets) -> str | None:
        if isinstance(value, list):
            try:
                return kamal_secrets[value[0]]
            except SandboxError as error:
                raise DeployFailed(f"(Kamal::ConfigurationError): {error.message}") from None
        return value

    def _connect(self, config: KamalConfig, kamal_secrets: KamalSecrets, host: str) -> _Server:
        found = self.resolve_vm(host)
        root = Path(found).resolve() if found else None
        user = config.ssh_user
        if root is None:
            raise DeployFailed(
                f"(SSHKit::Runner::ExecuteError): Exception while executing as {user}@{host}: "
                f"ssh: connect to host {host} port 22: Connection timed out"
            )
        # The workflow loads this secret into ssh-agent; `ssh.key_data` adds more keys.
        keys = [self.secrets[_SSH_KEY_SECRET]] if _SSH_KEY_SECRET in self.secrets else []
        try:
            keys += [kamal_secrets[name] for name in config.ssh_key_data]
            check_ssh_login(root, user, keys)
        except SshDenied:
            self.log.line(f"{user}@{host}: Permission denied (publickey).")
            raise DeployFailed(
                f"(SSHKit::Runner::ExecuteError): Exception while executing as {user}@{host}: "
                f"Authentication failed for user {user}@{host}"
            ) from None
        except SandboxError as error:
            raise DeployFailed(f"(Kamal::ConfigurationError): {error.message}") from None
        return _Server(host, root)

    def _ensure_proxy(self, config: KamalConfig, server: _Server) -> None:
        try:
            check_docker_access(server.root, config.ssh_user)
        except SandboxError as error:
            raise DeployFailed(
                f"(SSHKit::Command::Failed): Exception while executing on host {server.host}: "
                f"{error.message}"
            ) from None
        if proxy.ensure_proxy(server.root):
            with self._command("docker run --name kamal-proxy basecamp/kamal-proxy", server.host):
                pass
        if config.proxy and config.proxy.ssl:
            self.log.line(
                "  WARN the sandbox's kamal-proxy serves plain HTTP: no Let's Encrypt TLS"
            )

    def _boot(
        self, config: KamalConfig, kamal_secrets: KamalSecrets, image: Image, server: _Server
    ) -> None:
        """Kamal's app boot on one host: start the new version, switch, stop the old."""
        if config.proxy is None:
            raise DeployFailed(
                f"(Kamal::ConfigurationError): servers/{config.role}/proxy: false cannot be "
                "deployed locally: the sandbox serves every app through its kamal-proxy"
            )
        name = f"{config.container_prefix}-{image.version}"
        self._say(f"Start container with version {image.version} (or reboot if already running)...")
        self._clear_name(server, name, image.version)
        with self._command(f"docker pull {image.reference}", server.host):
            pulled = pull_image(image, server.root)
        spec = self._container_spec(config, kamal_secrets, pulled, name)
        labels = " ".join(f'--label {key}="{value}"' for key, value in spec.labels.items())
        run = (
            f"docker run --detach --restart unless-stopped --name {name} --network kamal "
            f"--env-file .kamal/apps/{config.service}/env/roles/{config.role}.env {labels} "
            f"{image.reference}"
        )
        with self._command(run, server.host):
            try:
                containers.run_container(server.root, spec)
            except SandboxError as error:
                message = f"(SSHKit::Command::Failed): docker exit status: 127\n{error.message}"
                raise DeployFailed(message) from None
        self._switch(config, server, spec)
        self._stop_old(config, server, spec.name)

    def _clear_name(self, server: _Server, name: str, version: str) -> None:
        """Free the container name: rename a running one (redeploy), remove a stopped one."""
        existing = containers.container_state(server.root, name)
        if existing and existing["state"] == "running":
            renamed = f"{version}_replaced_{token.token_hex(8)}"
            self._info_line(
                f"Renaming container {version} to {renamed} as already deployed on {server.host}"
            )
            containers.rename_container(server.root, name, name.replace(version, renamed))
        elif existing:
            containers.remove_container(server.root, name)

    def _container_spec(
        self, config: KamalConfig, kamal_secrets: KamalSecrets, image: Image, name: str
    ) -> containers.ContainerSpec:
        argv, image_env, workdir = image.process(config.cmd)
        env = {**image_env, **config.env_clear}
        for entry in config.env_secret:
            env_name, _, secret_name = entry.partition(":")
            env[env_name] = kamal_secrets[secret_name or env_name]
        labels = {
            "service": config.service,
            "role": config.role,
            "destination": config.destination or "",
            **config.labels,
        }
        return containers.ContainerSpec(
            name=name,
            image=image.reference,
            command=argv,
            workdir=str(workdir),
            env=env,
            port=containers.free_port(),
            labels=labels,
        )

    def _switch(self, config: KamalConfig, server: _Server, spec: containers.ContainerSpec) -> None:
        """`kamal-proxy deploy`: wait for health, then route the hosts to the new container."""
        settings = config.proxy
        assert settings is not None
        hosts = " ".join(f'--host="{host}"' for host in settings.hosts)
        deploy = (
            f"docker exec kamal-proxy kamal-proxy deploy {config.container_prefix} "
            f'--target="{spec.name}:{settings.app_port}" {hosts} '
            f'--deploy-timeout="{config.deploy_timeout}s" '
            f'--drain-timeout="{config.drain_timeout}s" '
            f'--health-check-path="{settings.healthcheck_path}"'
        )
        with self._command(deploy, server.host):
            failure = self._wait_healthy(
                server.root, spec, settings, self._scaled(config.deploy_timeout)
            )
            if failure:
                self._fail_boot(config, server, spec, failure)
            containers.set_health(server.root, spec.name, "healthy")
            route = {
                "container": spec.name,
                "port": spec.port,
                "healthcheck": settings.healthcheck_path,
            }
            proxy.switch_routes(server.root, settings.hosts or [proxy.ANY_HOST], route)
        self._info_line(
            f"First {config.role} container is healthy on {server.host}, booting any other roles"
        )

    def _fail_boot(
        self, config: KamalConfig, server: _Server, spec: containers.ContainerSpec, failure: str
    ) -> None:
        """What Kamal does when the new version never gets healthy: show why, stop it."""
        containers.set_health(server.root, spec.name, "unhealthy")
        self.log.line(f"  ERROR Failed to boot {config.role} on {server.host}")
        self._info_line(
            f"First {config.role} container is unhealthy on {server.host}, "
            "not booting any other roles"
        )
        for line in containers.read_log_tail(server.root, spec.name, _LOG_LINES_ON_FAILURE):
            self.log.line(f"  ERROR {line}")
        containers.stop_container(server.root, spec.name, self._stop_timeout(config))
        raise DeployFailed(
            f"(SSHKit::Command::Failed): Exception while executing on host {server.host}: "
            f"docker exit status: 1\ndocker stdout: Nothing written\ndocker stderr: {failure}"
        )

    def _wait_healthy(
        self,
        root: Path,
        spec: containers.ContainerSpec,
        settings: ProxySettings,
        deploy_timeout: int,
    ) -> str | None:
        """Poll the health check as kamal-proxy does; None when healthy, else the error.

        A container that exits fails at once rather than at the deadline: kamal-proxy
        would keep checking a dead target until the timeout with the same outcome.
        """
        url = f"http://127.0.0.1:{spec.port}{settings.healthcheck_path}"
        deadline = time.monotonic() + deploy_timeout
        headers = {"User-Agent": "kamal-proxy"}
        with httpx.Client(
            trust_env=False, timeout=settings.healthcheck_timeout, headers=headers
        ) as client:
            while True:
                state = containers.container_state(root, spec.name) or {}
                if state.get("state") != "running":
                    code = state.get("exit_code")
                    return f"Error: container exited with code {code} before becoming healthy"
                try:
                    if 200 <= client.get(url).status_code <= 299:
                        return None
                except httpx.HTTPError:
                    pass
                if time.monotonic() >= deadline:
                    return (
                        "Error: target failed to become healthy within configured timeout "
                        f"({deploy_timeout}s)"
                    )
                time.sleep(_HEALTH_POLL_SECONDS)

    def _stop_old(self, config: KamalConfig, server: _Server, current: str) -> None:
        """Drain and stop every other running container of this service and role."""
        old = [
            state
            for state in containers.list_containers(server.root)
            if _same_app(state, config) and state["name"] != current and state["state"] == "running"
        ]
        if old:
            time.sleep(_SWITCH_GRACE_SECONDS)
        for state in old:
            proxy.drain(state["port"], self._scaled(config.drain_timeout))
            with self._command(f"docker container stop {state['name']}", server.host):
                containers.stop_container(server.root, state["name"], self._stop_timeout(config))

    def _prune(self, config: KamalConfig, server: _Server) -> None:
        """Keep the newest `retain_containers` stopped containers and the images they use."""
        mine = [
            state
            for state in containers.list_containers(server.root)
            if _same_app(state, config) and state["state"] == "exited"
        ]
        for state in mine[: max(0, len(mine) - config.retain_containers)]:
            containers.remove_container(server.root, state["name"])
        in_use = {s["image"] for s in containers.list_containers(server.root)}
        repository_dir = server.root / IMAGES_DIR / config.repository
        for version_dir in repository_dir.glob("[!.]*"):
            if f"{config.repository}:{version_dir.name}" not in in_use:
                shutil.rmtree(version_dir, ignore_errors=True)

    def _stop_timeout(self, config: KamalConfig) -> int:
        return config.stop_timeout or _DEFAULT_STOP_TIMEOUT

    # output in Kamal's shape ---------------------------------------------------------------

    def _say(self, text: str) -> None:
        self.log.line(text)

    @contextmanager
    def _command(self, command: str, host: str) -> Iterator[None]:
        """SSHKit's pair of lines around a remote command, with its real duration."""
        tag = token.token_hex(4)
        self.log.line(f"  INFO [{tag}] Running {command} on {host}")
        started = time.monotonic()
        yield
        elapsed = time.monotonic() - started
        self.log.line(
            f"  INFO [{tag}] Finished in {elapsed:.3f} seconds with exit status 0 (successful)."
        )

    def _info_line(self, text: str) -> None:
        self.log.line(f"  INFO {text}")


class _DeployLock:
    """Kamal's deploy lock: a directory on the primary host, `~/.kamal/lock-<service>`.

    A lock left by a runner process that no longer exists (the local stack was killed
    mid-deploy) is broken with a warning; on a real VM it would need `kamal lock release`.
    """

    def __init__(self, server: _Server, config: KamalConfig, version: str, actions_log: ActionsLog):
        home = (passwd_entry(server.root, config.ssh_user) or {}).get("home", "/root")
        self.directory = resolve_in_root(server.root, f"{home}/.kamal/{config.lock_name}")
        locked_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.details = (
            f"Locked by: vmkit-local-runner at {locked_at}\nVersion: {version}\n"
            "Message: Automatic deploy lock\n"
        )
        self.log = actions_log

    def __enter__(self) -> _DeployLock:
        self.directory.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.directory.mkdir()
        except FileExistsError:
            if _holder_alive(self.directory / "pid"):
                raise DeployFailed(
                    "(Kamal::Cli::LockError): Deploy lock found. "
                    "Run 'kamal lock help' for more information"
                ) from None
            self.log.line("  WARN Breaking a deploy lock left by a runner that is gone")
        (self.directory / "details").write_text(self.details)
        (self.directory / "pid").write_text(str(os.getpid()))
        return self

    def __exit__(self, *_: object) -> None:
        for file in ("details", "pid"):
            (self.directory / file).unlink(missing_ok=True)
        self.directory.rmdir()


def _holder_alive(pid_file: Path) -> bool:
    """False only when the lock's runner process is known to be gone."""
    try:
        os.kill(int(pid_file.read_text()), 0)
    except ProcessLookupError:
        return False
    except (FileNotFoundError, ValueError):  # the holder is still writing its pid
        return True
    return True


def _same_app(state: dict[str, Any], config: KamalConfig) -> bool:
    labels = state.get("labels", {})
    return (
        labels.get("service") == config.service
        and labels.get("role") == config.role
        and labels.get("destination", "") == (config.destination or "")
    )


def _version_of(checkout: Path) -> str:
    """Kamal's version: the commit, or (no git checkout) a digest of the tree's content."""
    if (checkout / ".git").exists():
        result = subprocess.run(
            ["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True
        )
        if result.returncode == 0:
            return result.stdout.strip()
    digest = hashlib.sha1(usedforsecurity=False)
    for path in sorted(p for p in checkout.rglob("*") if p.is_file() and ".git" not in p.parts):
        digest.update(path.relative_to(checkout).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()
