"""The embedded default: VMKit's control plane and a stand-in cloud, on this machine.

`vmkit local up` (and the e2e fixture, and `make demo`) run this. The control plane is
template.yaml itself on the local stack core (moto, in-process Lambdas, the WebSocket
gateway, an HTTP API that sends payload-v2 events). Around it, playing the outside
world, stand the simulators of Hetzner, DigitalOcean, Cloudflare and GitHub, reached by
VMKit's real adapters; the sandbox fleet whose VMs run the rendered cloud-init and the real agent
(or, for Hetzner servers in `vm` mode, qemu guests running real cloud-init: `vm/`); and the
router that serves deployed apps at `http://{name}.localhost:{port}`.

Nothing here is VMKit logic: the control plane only sees different endpoints.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vmkit_local.actions_runner import deploy_step_environment, image_check_environment
from vmkit_local.core.asgi import AppSpec
from vmkit_local.core.http_api import HttpApiGateway, function_url, routes_from_template
from vmkit_local.core.ports import PortBook
from vmkit_local.core.stack import LocalStack, StackConfig
from vmkit_local.files import write_atomically

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
APPS_DOMAIN = "localhost"
# The label VMKit puts on a `local` target's servers when the target chose a machine
# (`local_machine`: `vm` or `sandbox`); without it, the stack's default decides.
MACHINE_LABEL = "vmkit.dev/local-machine"
# Secret names: the template parameters' defaults, which the local stack keeps.
SECRET_NAMES = {  # the template's default SSM parameter names
    "app_key": "/vmkit/github-app-private-key",
    "webhook": "/vmkit/github-webhook-secret",
    "oauth": "/vmkit/github-oauth",
    "cloudflare": "/vmkit/cloudflare-token",
}


@dataclass
class EmbeddedConfig:
    data_dir: Path = ROOT / ".vmkit" / "data"
    state_file: Path | None = ROOT / ".vmkit" / "local.json"
    host: str = "127.0.0.1"
    # How long deploys wait for a new VM's agent and for a workflow run, in seconds.
    agent_wait_seconds: int = 120
    workflow_wait_seconds: int = 600
    # systemd's RestartSec and kamal's timings, scaled down on the sandbox.
    time_scale: float = 0.02
    # Local servers are real qemu guests by default (`vmkit local up --vm`); a target's
    # own `local_machine` choice (a server label) wins either way.
    vm: bool = False
    # The sweeper's schedule (rate(5 minutes) in the template), shortened for tests.
    schedule_every_s: float | None = None
    parameter_overrides: Mapping[str, str] = field(default_factory=dict)
    extra_env: Mapping[str, str] = field(default_factory=dict)


class CloudStandIns:
    """The simulators, the sandbox fleet and the app router: the world outside VMKit.

    Started before the stack (the template's parameters name their URLs), and stopped
    with it, as one of its services.
    """

    name = "cloud"

    def __init__(self, data_dir: Path, host: str, time_scale: float, vm: bool = False):
        from vmkit_local.sandbox import AppRouter, RouterServer, SandboxFleet
        from vmkit_local.simulators import (
            CloudflareSimulator,
            DigitalOceanSimulator,
            GitHubSimulator,
            HetznerSimulator,
        )
        from vmkit_local.vm import GuestFleet

        self.data_dir = data_dir
        self.host = host
        self.vm = vm
        tokens = _persistent_tokens(data_dir / "tokens.json")
        self.hetzner_token, self.cloudflare_token = tokens["hetzner"], tokens["cloudflare"]
        self.digitalocean_token = tokens["digitalocean"]
        self.fleet = SandboxFleet(data_dir / "vms", time_scale=time_scale)
        self.guests = GuestFleet(data_dir / "qemu")
        self.hetzner = HetznerSimulator(
            token=self.hetzner_token,
            data_dir=data_dir / "hetzner",
            boot=self._boot,
            destroy=self._destroy,
            power_off=self._power_off,
            power_on=self._power_on,
        )
        # Droplets share the fleet with Hetzner's servers under their own names.
        self.digitalocean = DigitalOceanSimulator(
            token=self.digitalocean_token,
            data_dir=data_dir / "digitalocean",
            boot=lambda droplet_id, *vm: self.fleet.boot(_droplet_vm(droplet_id), *vm),
            destroy=lambda droplet_id: self.fleet.destroy(_droplet_vm(droplet_id)),
            power_off=lambda droplet_id: self.fleet.power_off(_droplet_vm(droplet_id)),
            power_on=lambda droplet_id: self.fleet.power_on(_droplet_vm(droplet_id)),
            rebuild=lambda droplet_id: self.fleet.rebuild(_droplet_vm(droplet_id)),
        )
        self.cloudflare = CloudflareSimulator(
            token=self.cloudflare_token, zones=[APPS_DOMAIN], data_dir=data_dir / "cloudflare"
        )
        self.github = GitHubSimulator(data_dir=data_dir / "github", run_workflow=self._run_workflow)
        # Kept ports: deploys store their app's URL, and the simulators' URLs are set
        # again at each start only where VMKit reads them from its configuration.
        self.ports = PortBook(data_dir / "ports.json")
        self.router = RouterServer(
            AppRouter(
                self.cloudflare.resolve,
                self.fleet.root_for_ip,
                apps_domain=APPS_DOMAIN,
                guest_port_for_ip=self._guest_http_port,
            ),
            sock=self.ports.listen("the app router", host),
        )
        # GHCR's stand-in: the images runs publish, kept with the data so a rollback
        # after a restart still finds them.
        self.registry = data_dir / "ghcr"
        self.urls: dict[str, str] = {}
        self._stops: list[Callable[[], None]] = []

    def start_outside(self) -> None:
        from vmkit_local.simulators import serve_in_thread

        for name, sim in (
            ("hetzner", self.hetzner),
            ("digitalocean", self.digitalocean),
            ("cloudflare", self.cloudflare),
            ("github", self.github),
        ):
            sock = self.ports.listen(f"the {name} simulator", self.host)
            url, stop = serve_in_thread(sim.app, sock=sock)
            self.urls[name] = url
            self._stops.append(stop)
        self.router.start()
        self._stops.append(self.router.stop)
        self._stops.append(self.github.close)

    @property
    def apps_url(self) -> str:
        return f"http://{{name}}.{APPS_DOMAIN}:{self.router.port}"

    # -- as a service of the stack --------------------------------------------------------

    def start(self, stack: LocalStack) -> Mapping[str, Any]:
        from vmkit_local.vm.network import port_of

        self.github.configure_webhook(
            f"{stack.app_urls['rest']}/api/webhooks/github", stack.github_webhook_secret
        )
        self.github.configure_setup_url(f"{stack.app_urls['rest']}/api/github/setup")
        # VMs that were running boot again now that the gateway their agents dial is up
        # (and inside the stack's lifetime, so their processes end with it).
        self.fleet.resume()
        self._stops.append(self.fleet.shutdown)
        # What a guest may dial: the presigned agent download (the AWS endpoint) and the
        # agents' WebSocket gateway; then the guests that were running come back.
        assert stack.ws_url
        # and GitHub's /meta, which agents read for the runner ranges SSH is open to.
        self.guests.expose(
            {
                "aws": port_of(stack.aws_url),
                "ws": port_of(stack.ws_url),
                "github": port_of(self.urls["github"]),
            }
        )
        if self.vm:
            self.guests.image()  # built once (about a minute), then cached
        self.guests.resume()
        self._stops.append(self.guests.shutdown)
        return {
            "apps_url": self.apps_url,
            "github_url": self.urls["github"],
            "hetzner_url": self.urls["hetzner"],
            # A `digitalocean` compute target on this stack takes this token.
            "digitalocean_url": self.urls["digitalocean"],
            "digitalocean_token": self.digitalocean_token,
            "cloudflare_url": self.urls["cloudflare"],
        }

    def stop(self) -> None:
        while self._stops:
            try:
                self._stops.pop()()
            except Exception:  # stop the rest regardless
                log.exception("stopping a stand-in failed")

    def connect_account(self, owner: str, workspace_id: str) -> int:
        """As the local operator: install the App on `owner` (over all its repos) unless it
        is installed, and give that installation to a workspace.

        On AWS a workspace claims an installation through GitHub's proof of access (the
        setup URL, the user's token); here the person running the stack is the operator,
        who may assign one directly (`installations.claim_as_operator`)."""
        from vmkit.deps import get_deps
        from vmkit.services import installations

        installation_id = self.github.installation_id(owner)
        if installation_id is None:
            self.github.add_user(owner)
            installation_id = self.github.install_app(owner)
        installations.claim_as_operator(get_deps(), workspace_id, installation_id)
        return installation_id

    # -- the Hetzner simulator's machines ---------------------------------------------------

    def _boot(self, server_id: int, name: str, user_data: str, labels: dict[str, str]) -> str:
        if labels.get(MACHINE_LABEL, "vm" if self.vm else "sandbox") == "vm":
            return self.guests.boot(server_id, name, user_data, labels)
        return self.fleet.boot(server_id, name, user_data, labels)

    def _destroy(self, server_id: int) -> None:
        if self.guests.owns(server_id):
            self.guests.destroy(server_id)
        else:
            self.fleet.destroy(server_id)

    def _power_off(self, server_id: int) -> None:
        if not self.guests.owns(server_id):  # a qemu guest's power is its own (not modelled)
            self.fleet.power_off(server_id)

    def _power_on(self, server_id: int) -> None:
        if not self.guests.owns(server_id):
            self.fleet.power_on(server_id)

    def _guest_http_port(self, ip: str) -> int | None:
        guest = self.guests.for_ip(ip)
        return guest.forwards.http if guest and guest.forwards else None

    # -- GitHub Actions' runner -----------------------------------------------------------

    def _run_workflow(
        self, run: Mapping[str, Any], checkout_dir: Path, repo_secrets: dict[str, str]
    ) -> tuple[str, str]:
        """Run the deploy job as GitHub's runner would, with the env the workflow declares."""
        from vmkit_local.sandbox import run_deploy_workflow
        from vmkit_local.vm.deploy import GuestAddress, GuestDeployRun

        github_token = "ghs_" + secrets.token_hex(18)  # the job's own, as GitHub mints one per run
        job_secrets = {**repo_secrets, "GITHUB_TOKEN": github_token}
        env = deploy_step_environment(run, job_secrets)

        def resolve_vm(host: str) -> Path | GuestAddress | None:
            ip = self.cloudflare.resolve(host) or host
            guest = self.guests.for_ip(ip)
            if guest and guest.forwards:
                return GuestAddress(guest.forwards.ssh)
            return self.fleet.root_for_ip(ip)

        masked = [*repo_secrets.values(), github_token]  # GitHub masks secrets in logs, not vars
        return run_deploy_workflow(
            checkout_dir,
            env,
            dict(run["inputs"]),
            resolve_vm,
            masked=masked,
            time_scale=self.fleet.time_scale,
            run_class=GuestDeployRun,
            registry=self.registry,
            image_check=image_check_environment(run, job_secrets),
        )


def build(config: EmbeddedConfig) -> tuple[LocalStack, CloudStandIns]:
    """The stack, ready to `start()`; the stand-ins are already running."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    cloud = CloudStandIns(config.data_dir, config.host, config.time_scale, vm=config.vm)
    cloud.start_outside()
    try:
        env = {
            "LOCAL_COMPUTE_URL": f"{cloud.urls['hetzner']}/v1",
            # A `hetzner` target here reaches the simulator too (with the simulator's
            # token, which `local.json` names), as a `digitalocean` one does.
            "HCLOUD_API_URL": f"{cloud.urls['hetzner']}/v1",
            "LOCAL_COMPUTE_TOKEN": cloud.hetzner_token,
            "DIGITALOCEAN_API_URL": cloud.urls["digitalocean"],
            "CLOUDFLARE_API_URL": f"{cloud.urls['cloudflare']}/client/v4",
            "APPS_URL_TEMPLATE": f"http://{{hostname}}:{cloud.router.port}",
            "PROVIDER_POLL_SECONDS": "0.05",
            **config.extra_env,
        }
        os.environ.update(env)
        from vmkit import warm
        from vmkit.settings import get_settings

        get_settings.cache_clear()
        template = _template_resources()
        gateways = {
            "rest": HttpApiGateway(routes_from_template(template, "HttpApi")),
            "mcp": HttpApiGateway([function_url("McpFunction")]),
        }
        stack = LocalStack(
            StackConfig(
                template=TEMPLATE,
                data_dir=config.data_dir / "aws",
                state_file=config.state_file,
                host=config.host,
                parameter_overrides={
                    "AppsDomain": APPS_DOMAIN,
                    "GitHubAppId": str(cloud.github.app_id),
                    "GitHubAppSlug": cloud.github.app_slug,
                    "GitHubApiUrl": cloud.urls["github"],
                    "GitHubWebUrl": cloud.urls["github"],
                    "CloudflareZoneId": cloud.cloudflare.zone_id(APPS_DOMAIN) or "",
                    "AgentWaitSeconds": str(config.agent_wait_seconds),
                    "WorkflowWaitSeconds": str(config.workflow_wait_seconds),
                    **config.parameter_overrides,
                },
                api_apps={"HttpApi": "rest", "McpFunction": "mcp"},
                schedule_every_s=config.schedule_every_s,
                process_memory=warm.state,
            ),
            apps={"rest": AppSpec(gateways["rest"]), "mcp": AppSpec(gateways["mcp"], path="/mcp")},
            services=[cloud, _ControlPlaneSetup(cloud, list(gateways.values()), config.data_dir)],
        )
    except BaseException:
        cloud.stop()
        raise
    return stack, cloud


class _ControlPlaneSetup:
    """What an operator does once after `sam deploy`: secrets, the agent build, a first key."""

    name = "setup"

    def __init__(self, cloud: CloudStandIns, gateways: list[HttpApiGateway], data_dir: Path):
        self.cloud = cloud
        self.gateways = gateways
        self.data_dir = data_dir

    def start(self, stack: LocalStack) -> Mapping[str, Any]:
        for gateway in self.gateways:
            names = {r.function: stack.spec.physical(r.function).ref for r in gateway.routes}
            gateway.attach(stack.runtime, names)
        github = self.cloud.github
        secret_values = {
            SECRET_NAMES["app_key"]: github.app_private_key_pem,
            SECRET_NAMES["webhook"]: stack.github_webhook_secret,
            SECRET_NAMES["oauth"]: json.dumps(
                {"client_id": github.client_id, "client_secret": github.client_secret}
            ),
            SECRET_NAMES["cloudflare"]: self.cloud.cloudflare_token,
        }
        ssm = stack.client("ssm")
        for name, value in secret_values.items():
            ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
        agent = _publish_agent(stack, self.data_dir / "agent")
        _reconcile_after_restart()
        workspace_id, api_key = _bootstrap_key(self.data_dir / "bootstrap.json")
        _hold_unheld_installations(github, workspace_id)
        return {
            "api_key": api_key,
            "agent_version": agent,
            # For operator commands that use the domain directly (`vmkit admin bootstrap`).
            "table_name": os.environ["TABLE_NAME"],
            "kms_key_id": os.environ["KMS_KEY_ID"],
        }

    def stop(self) -> None:
        for gateway in self.gateways:
            gateway.attach(None, {})


def _publish_agent(stack: LocalStack, out_dir: Path) -> str:
    """Build the agent and put it where the control plane publishes it (S3), as an operator would."""
    from vmkit.adapters.artifacts import AGENT_KEY, publish_agent
    from vmkit_agent.build import build_agent

    build = build_agent(out_dir)
    publish_agent(
        stack.client("s3"),
        os.environ["AGENT_BUCKET"],
        build.path.read_bytes(),
        sha256=build.sha256,
        version=build.version,
        key=os.environ.get("AGENT_KEY", AGENT_KEY),
    )
    return build.version


def _reconcile_after_restart() -> None:
    """Every execution died with the last run: fail the deploys they carried, and destroy
    the VMs no environment has (the layer's rule, the same the sweeper applies on AWS)."""
    from vmkit.deps import get_deps
    from vmkit.services import reconcile

    result = reconcile.after_restart(get_deps())
    if any(result.values()):
        log.warning(
            "after the restart: failed %d deploys whose execution was gone, destroyed %d "
            "VMs no environment has",
            len(result["lost_executions"]),
            len(result["orphan_servers"]),
        )


def _hold_unheld_installations(github: Any, workspace_id: str) -> None:
    """The local workspace is the operator's: at start it holds each of the GitHub
    simulator's installations that no workspace holds, so repos seeded before `vmkit
    local up` connect with the printed key. Installations made later (a sign-in and the
    install page) are claimed through GitHub's flows, as on AWS."""
    from vmkit.deps import get_deps
    from vmkit.services import installations
    from vmkit.store.keys import Claims

    deps = get_deps()
    for installation in github.state.installations():
        if deps.store.claim_owner(Claims.installation(installation["id"])) is None:
            installations.claim_as_operator(deps, workspace_id, int(installation["id"]))


def _bootstrap_key(record: Path) -> tuple[str, str]:
    """The local workspace's admin key: a new one each start, the previous one revoked.

    The record may name what the state no longer holds (state from before durable
    data dirs, a restored backup): a missing workspace is made anew, a missing key is
    not revoked, and a record that does not parse is replaced, each said in one line.
    """
    from vmkit.auth import Principal
    from vmkit.deps import get_deps
    from vmkit.errors import NotFound
    from vmkit.models import Interface, Scope, Workspace
    from vmkit.schemas import ApiKeyCreate
    from vmkit.services import keys, workspaces

    deps = get_deps()
    known = _read_record(record)
    workspace_id = known.get("workspace_id")
    if workspace_id and deps.store.find(Workspace, workspace_id, workspace_id):
        operator = Principal(workspace_id, "operator", Scope.admin, Interface.cli)
        key, plaintext = keys.create_key(
            deps, operator, ApiKeyCreate(name="local admin", scopes=[Scope.admin])
        )
        try:
            if known.get("key_id"):
                keys.revoke_key(deps, operator, known["key_id"])
        except NotFound:
            log.warning("%s names key %s, which the state never held", record, known["key_id"])
        key_id = key.id
    else:
        if workspace_id:
            log.warning("%s names workspace %s, which the state does not hold; "
                        "making a new local workspace", record, workspace_id)  # fmt: skip
        workspace, plaintext = workspaces.bootstrap_workspace(deps, "local")
        workspace_id, key_id = workspace.id, plaintext.split("_")[1]
    write_atomically(record, json.dumps({"workspace_id": workspace_id, "key_id": key_id}))
    return workspace_id, plaintext


def _read_record(path: Path) -> dict[str, Any]:
    try:
        known = json.loads(path.read_text()) if path.exists() else {}
    except (ValueError, UnicodeDecodeError):
        known = None
    if not isinstance(known, dict):
        log.warning("%s does not parse; making a new local workspace and key", path)
        return {}
    return known


def _persistent_tokens(path: Path) -> dict[str, str]:
    """The simulators' API tokens: random, kept with the data so stored targets still work.

    A data directory from before a simulator existed gets that simulator's token added."""
    tokens = json.loads(path.read_text()) if path.exists() else {}
    fresh = {
        "hetzner": lambda: secrets.token_hex(32),
        "cloudflare": lambda: secrets.token_urlsafe(30),
        "digitalocean": lambda: "dop_v1_" + secrets.token_hex(32),
    }
    missing = {name: make() for name, make in fresh.items() if name not in tokens}
    if missing:
        tokens.update(missing)
        write_atomically(path, json.dumps(tokens), mode=0o600)
    return tokens


def _droplet_vm(droplet_id: int) -> str:
    """The sandbox VM of a Droplet (Hetzner's servers use their bare ids)."""
    return f"droplet-{droplet_id}"


def _template_resources() -> dict[str, Any]:
    from vmkit_local.core.template import load_template

    return load_template(TEMPLATE)["Resources"]
