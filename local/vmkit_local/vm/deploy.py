"""The simulated Actions run against real guests: `kamal deploy` over real SSH.

The run is the sandbox's (`sandbox/workflow.py`: the same config loading, secrets,
log and errors); what happens on a server is what Kamal 2 does there, as shell
commands over SSH as the deploy user with the key from the `VMKIT_SSH_PRIVATE_KEY`
secret:
1. the image: the buildpacks stand-in builds the app, `appimage.py` makes it a
   Docker image tarball, and `docker import` streams it into the guest (there is no
   registry to push to or pull from offline);
2. `kamal-proxy` runs as a container on the `kamal` network publishing 80;
3. the new version's container starts with its env file, `kamal-proxy deploy`
   health-checks it and switches the hosts to it (a failed check stops it and leaves
   the old one serving), then the old containers stop and old ones beyond
   `retain_containers` go, with their images.
A host the DNS maps to a sandbox VM is deployed by the sandbox run instead.
"""

from __future__ import annotations

import secrets
import shlex
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from vmkit_local.sandbox.kamal_config import KamalConfig
from vmkit_local.sandbox.kamal_secrets import KamalSecrets
from vmkit_local.sandbox.workflow import _SSH_KEY_SECRET, DeployFailed, DeployRun
from vmkit_local.vm import appimage
from vmkit_local.vm.ssh import SshFailed, SshSession

_LOG_LINES_ON_FAILURE = 20
_DEFAULT_STOP_TIMEOUT = 10


@dataclass(frozen=True)
class GuestAddress:
    """Where the runner's SSH reaches a guest: its port 22, forwarded to the host."""

    ssh_port: int


@dataclass
class _Host:
    name: str
    ssh: SshSession


class GuestDeployRun(DeployRun):
    """The run for guests; it hands sandbox hosts back to `DeployRun._deploy`, so its own
    steps keep names of their own (`_start_proxy`, not the sandbox's `_ensure_proxy`)."""

    def _deploy(self, config: KamalConfig, kamal_secrets: KamalSecrets, version: str) -> None:
        found = {host: self.resolve_vm(host) for host in config.hosts}
        if not any(isinstance(address, GuestAddress) for address in found.values()):
            return super()._deploy(config, kamal_secrets, version)
        with ExitStack() as stack:
            build_dir = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="vmkit-build-"))
            )
            built = self._build(config, kamal_secrets, version, build_dir)
            with self._command(
                "docker image build (offline: a layer on the cached Debian base)", "localhost"
            ):
                image = appimage.app_image(built, build_dir, {"service": config.service})
                proxy = appimage.proxy_image(build_dir)
            hosts = [
                self._reach(config, kamal_secrets, host, found[host], stack)
                for host in config.hosts
            ]
            self._say("Acquiring the deploy lock...")
            lock = f"~/.kamal/{config.lock_name}"
            self._remote(hosts[0], f"mkdir -p ~/.kamal && mkdir {lock}", lock_error=True)
            try:
                for host in hosts:
                    self._push(host, image)
                self._say("Ensure kamal-proxy is running...")
                for host in hosts:
                    self._start_proxy(config, host, proxy)
                self._say("Detect stale containers...")
                for host in hosts:
                    self._boot_release(config, kamal_secrets, host, image)
                self._say("Prune old containers and images...")
                for host in hosts:
                    self._prune_release(config, host)
            finally:
                self._say("Releasing the deploy lock...")
                self._remote(hosts[0], f"rm -rf {lock}", check=False)
        return None

    # steps --------------------------------------------------------------------------------

    def _reach(
        self,
        config: KamalConfig,
        kamal_secrets: KamalSecrets,
        host: str,
        address: object,
        stack: ExitStack,
    ) -> _Host:
        user = config.ssh_user
        if not isinstance(address, GuestAddress):
            raise DeployFailed(
                f"(SSHKit::Runner::ExecuteError): Exception while executing as {user}@{host}: "
                f"ssh: connect to host {host} port 22: Connection timed out"
            )
        keys = [self.secrets[_SSH_KEY_SECRET]] if _SSH_KEY_SECRET in self.secrets else []
        keys += [kamal_secrets[name] for name in config.ssh_key_data]
        for key in keys:
            session = stack.enter_context(SshSession(address.ssh_port, user, key))
            try:
                session.run("true", timeout=60)
            except SshFailed as error:
                self.log.line(f"{user}@{host}: {error.stderr.strip() or 'ssh failed'}")
                continue
            return _Host(host, session)
        raise DeployFailed(
            f"(SSHKit::Runner::ExecuteError): Exception while executing as {user}@{host}: "
            f"Authentication failed for user {user}@{host}"
        )

    def _push(self, host: _Host, image: appimage.ContainerImage) -> None:
        """`docker pull`, offline: the layers the guest lacks go in over SSH."""
        if self._has_image(host, image.reference):
            return
        with self._command(f"docker pull {image.reference}", host.name):
            if not self._has_image(host, image.base.reference):
                with image.base.tarball.open("rb") as layer:
                    self._remote(host, image.base.import_command(), stdin=layer, quiet=True)
            with image.context.open("rb") as context:
                self._remote(host, image.build_command(), stdin=context, quiet=True)

    def _has_image(self, host: _Host, reference: str) -> bool:
        found = self._remote(
            host, f"docker image inspect {shlex.quote(reference)}", check=False, quiet=True
        )
        return found.returncode == 0

    def _start_proxy(
        self, config: KamalConfig, host: _Host, proxy: appimage.ContainerImage
    ) -> None:
        self._remote(
            host, "docker network inspect kamal >/dev/null 2>&1 || docker network create kamal"
        )
        running = self._remote(
            host,
            "docker inspect --format '{{.State.Running}} {{.Config.Image}}' kamal-proxy",
            check=False,
            quiet=True,
        )
        if running.stdout.strip() == f"true {proxy.reference}":
            return
        self._push(host, proxy)
        self._remote(host, "docker rm -f kamal-proxy >/dev/null 2>&1 || true", quiet=True)
        self._remote(
            host,
            "docker run --detach --name kamal-proxy --network kamal --restart unless-stopped "
            "--publish 80:80 --volume kamal-proxy-config:/var/lib/kamal-proxy "
            f"{shlex.quote(proxy.reference)}",
        )
        if config.proxy and config.proxy.ssl:
            self.log.line("  WARN the local kamal-proxy serves plain HTTP: no Let's Encrypt TLS")

    def _boot_release(
        self,
        config: KamalConfig,
        kamal_secrets: KamalSecrets,
        host: _Host,
        image: appimage.ContainerImage,
    ) -> None:
        if config.proxy is None:
            raise DeployFailed(
                f"(Kamal::ConfigurationError): servers/{config.role}/proxy: false cannot be "
                "deployed locally: the guest serves every app through its kamal-proxy"
            )
        version = image.reference.rsplit(":", 1)[1]
        name = f"{config.container_prefix}-{version}"
        self._say(f"Start container with version {version} (or reboot if already running)...")
        existing = self._remote(
            host,
            f"docker inspect --format '{{{{.State.Running}}}}' {name}",
            check=False,
            quiet=True,
        )
        if existing.stdout.strip() == "true":
            renamed = f"{name}_replaced_{version[:8]}"
            self._remote(host, f"docker rename {name} {renamed}")
        elif existing.returncode == 0:
            self._remote(host, f"docker rm {name}")
        env_file = f".kamal/apps/{config.service}/env/roles/{config.role}.env"
        host.ssh.write(env_file, self._env_file(config, kamal_secrets))
        labels = {
            "service": config.service,
            "role": config.role,
            "destination": config.destination or "",
            **config.labels,
        }
        label_args = " ".join(f"--label {shlex.quote(f'{k}={v}')}" for k, v in labels.items())
        command = f" {shlex.quote(config.cmd)}" if config.cmd else ""
        self._remote(
            host,
            f"docker run --detach --restart unless-stopped --name {name} --network kamal "
            f"--hostname {name} --env-file {env_file} {label_args} "
            f"{shlex.quote(image.reference)}{command}",
        )
        settings = config.proxy
        hosts = " ".join(f"--host={shlex.quote(h)}" for h in settings.hosts)
        deploy = self._remote(
            host,
            f"docker exec kamal-proxy kamal-proxy deploy {config.container_prefix} "
            f"--target={name}:{settings.app_port} {hosts} "
            f"--deploy-timeout={config.deploy_timeout}s --drain-timeout={config.drain_timeout}s "
            f"--health-check-path={shlex.quote(settings.healthcheck_path)}",
            check=False,
        )
        if deploy.returncode != 0:
            self.log.line(f"  ERROR Failed to boot {config.role} on {host.name}")
            logs = self._remote(
                host, f"docker logs --tail {_LOG_LINES_ON_FAILURE} {name} 2>&1", check=False
            )
            for line in logs.stdout.splitlines():
                self.log.line(f"  ERROR {line}")
            self._remote(host, f"docker stop {name}", check=False)
            raise DeployFailed(
                f"(SSHKit::Command::Failed): Exception while executing on host {host.name}: "
                f"docker exit status: 1\ndocker stdout: Nothing written\n"
                f"docker stderr: {deploy.stderr.strip()}"
            )
        self._info_line(
            f"First {config.role} container is healthy on {host.name}, booting any other roles"
        )
        old = self._app_containers(config, host, "running")
        timeout = config.stop_timeout or _DEFAULT_STOP_TIMEOUT
        for container in (c for c in old if c != name):
            self._remote(host, f"docker container stop -t {timeout} {container}")

    def _prune_release(self, config: KamalConfig, host: _Host) -> None:
        stopped = self._app_containers(config, host, "exited")  # newest first
        for container in stopped[config.retain_containers :]:
            self._remote(host, f"docker rm {container}")
        self._remote(
            host,
            f"docker image prune --all --force --filter label=service={config.service}",
            quiet=True,
        )

    # helpers ------------------------------------------------------------------------------

    def _env_file(self, config: KamalConfig, kamal_secrets: KamalSecrets) -> str:
        env = dict(config.env_clear)
        for entry in config.env_secret:
            env_name, _, secret_name = entry.partition(":")
            env[env_name] = kamal_secrets[secret_name or env_name]
        for name, value in env.items():
            if "\n" in value:
                raise DeployFailed(f"(Kamal::ConfigurationError): env {name} holds a newline")
        return "".join(f"{name}={value}\n" for name, value in env.items())

    def _app_containers(self, config: KamalConfig, host: _Host, status: str) -> list[str]:
        filters = " ".join(
            f"--filter {shlex.quote(f'label={k}={v}')}"
            for k, v in (
                ("service", config.service),
                ("role", config.role),
                ("destination", config.destination or ""),
            )
        )
        listed = self._remote(
            host,
            f"docker ps --all --filter status={status} {filters} --format '{{{{.Names}}}}'",
            quiet=True,
        )
        return [line for line in listed.stdout.splitlines() if line and line != "kamal-proxy"]

    def _remote(
        self,
        host: _Host,
        command: str,
        *,
        check: bool = True,
        quiet: bool = False,
        lock_error: bool = False,
        stdin: object = None,
    ):
        if quiet:
            done = host.ssh.run(command, check=False, stdin=stdin)  # type: ignore[arg-type]
        else:
            tag = secrets.token_hex(4)
            self.log.line(f"  INFO [{tag}] Running {command} on {host.name}")
            started = time.monotonic()
            done = host.ssh.run(command, check=False, stdin=stdin)  # type: ignore[arg-type]
            outcome = "successful" if done.returncode == 0 else "failed"
            self.log.line(
                f"  INFO [{tag}] Finished in {time.monotonic() - started:.3f} seconds "
                f"with exit status {done.returncode} ({outcome})."
            )
        if done.returncode != 0 and check:
            if lock_error:
                raise DeployFailed(
                    "(Kamal::Cli::LockError): Deploy lock found. Run 'kamal lock help' for more information"
                )
            raise DeployFailed(
                f"(SSHKit::Command::Failed): Exception while executing on host {host.name}: "
                f"{command.split()[0]} exit status: {done.returncode}\n{done.stderr.strip()[-800:]}"
            )
        return done
