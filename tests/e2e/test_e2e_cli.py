"""`vmkit` at a terminal, on the local stack: the real executable, run as a subprocess.

The stack runs in this test process; the CLI finds it as it would on a developer's
machine, from the `.vmkit/local.json` in the directory it runs in, over HTTP, with no
environment variables. Exit codes are checked on every call, and `--json` output
against the API's own OpenAPI schemas.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import signal
import socket
from pathlib import Path
from typing import Any

import httpx
import pexpect
import pytest

from tests.e2e.conftest import SAMPLE_APP, Local
from tests.support.cli import VMKIT, Cli, Schemas
from vmkit.schemas import WorkspaceBootstrap
from vmkit_cli.shapes import Doctor, Session, Status

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def project(local: Local, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory where a local stack is running, as `vmkit local up` leaves it."""
    root = tmp_path_factory.mktemp("project")
    (root / ".vmkit").mkdir()
    (root / ".vmkit" / "local.json").write_text(json.dumps(local.stack.local_json))
    return root


@pytest.fixture
def cli(project: Path, tmp_path: Path) -> Cli:
    home = tmp_path / "home"
    home.mkdir()
    return Cli(project, home)


@pytest.fixture(scope="module")
def schemas(local: Local) -> Schemas:
    return Schemas(httpx.get(f"{local.stack.app_urls['rest']}/openapi.json").json())


def _repo(local: Local, tmp_path: Path, name: str, owner: str = "acme") -> str:
    """A repo on (simulated) GitHub holding the sample app, with the VMKit App installed."""
    source = tmp_path / name
    shutil.copytree(SAMPLE_APP, source)
    return local.cloud.github.create_repo(owner, name, source_dir=source).full_name


def _own_workspace(cli: Cli, local: Local) -> dict[str, Any]:
    """`vmkit admin bootstrap` on the running stack, then log in with the new key."""
    made = cli("admin", "bootstrap", "--name", "cli journey", "--json")
    assert made.code == 0, made.err
    workspace = WorkspaceBootstrap.model_validate(made.json()).model_dump()  # not a REST shape
    url = json.loads((cli.cwd / ".vmkit" / "local.json").read_text())["rest_url"]
    login = cli("login", "--url", url, "--profile", "journey", "--json", input=workspace["api_key"])
    assert login.code == 0, login.err
    session = Session.model_validate(login.json())
    assert session.identity.workspace_id == workspace["workspace_id"] != ""
    assert workspace["api_key"] not in login.out + login.err
    # Its own GitHub account with the App installed, assigned by the operator (the
    # local workspace holds acme's installation, which this one may not use).
    workspace["github_account"] = f"dev-{workspace['workspace_id'][-6:].lower()}"
    local.cloud.connect_account(workspace["github_account"], workspace["workspace_id"])
    return workspace


def test_login_finds_the_local_stack_and_keeps_the_profile_private(cli: Cli, local: Local, schemas):
    anonymous = cli("whoami", "--json")  # no login at all: the stack here is found
    assert anonymous.code == 0, anonymous.err
    assert Session.model_validate(anonymous.json()).profile is None
    login = cli("login", "--json")
    assert login.code == 0, login.err
    session = Session.model_validate(login.json())
    schemas.check(login.json()["identity"], "WhoAmI")
    assert session.profile == "local" and session.identity.scope == "admin"
    assert session.url == local.stack.app_urls["rest"]
    config = cli.home / ".config" / "vmkit" / "config.toml"
    assert config.stat().st_mode & 0o777 == 0o600
    assert local.stack.local_json["api_key"] not in config.read_text()  # read from local.json
    assert cli("whoami").out.count("the local stack") == 1


def test_admin_bootstrap_makes_a_second_workspace_on_the_running_stack(
    cli: Cli, local: Local, schemas
):
    first = cli("whoami", "--json").json()["identity"]["workspace_id"]
    workspace = _own_workspace(cli, local)
    assert workspace["workspace_id"] != first
    assert cli("targets", "list", "--json").json() == {"items": [], "next_cursor": None}


def test_a_developer_deploys_operates_and_destroys_from_the_terminal(
    cli: Cli, local: Local, schemas: Schemas, tmp_path: Path
):
    account = _own_workspace(cli, local)["github_account"]
    # Setup: a Hetzner token on stdin (stored, never shown; the simulator's, which VMKit
    # checks with a read call), the local machine, a repo, an env.
    token = local.cloud.hetzner_token
    hetzner = cli("targets", "add", "hetzner", "--name", "cloud", "--json", input=token + "\n")
    assert hetzner.code == 0, hetzner.err
    assert schemas.check(hetzner.json(), "ComputeTargetPublic")["token_hint"] == f"…{token[-4:]}"
    assert token not in hetzner.out + hetzner.err
    here = cli("targets", "add", "local", "--name", "here")
    assert here.code == 0 and "added compute target here" in here.out
    targets = schemas.check(cli("targets", "list", "--json").json(), "ListOf_ComputeTargetPublic_")
    assert {t["name"] for t in targets["items"]} == {"cloud", "here"}

    full_name = _repo(local, tmp_path, "cliapp", owner=account)
    installation = str(local.cloud.github.installation_id(account))
    connected = cli("repos", "connect", full_name, "--installation-id", installation, "--json")
    assert connected.code == 0, connected.err
    schemas.check(connected.json(), "RepoPublic")
    scan = cli("repos", "scan", full_name)
    assert scan.code == 0 and f"{full_name}: python" in scan.out
    scanned = cli("repos", "scan", full_name, "--json")
    assert schemas.check(scanned.json(), "ScanResult")["health_path"] == "/up"
    created = cli("envs", "create", "production", "--repo", full_name, "--target", "here", "--json")
    assert created.code == 0, created.err
    env = schemas.check(created.json(), "EnvironmentPublic")
    listed = schemas.check(cli("envs", "list", "--json").json(), "ListOf_EnvironmentPublic_")
    assert [e["id"] for e in listed["items"]] == [env["id"]]

    # The first deploy waits for the onboarding PR, whose link it shows; cancelled there.
    plan = cli("deploy", "--dry-run", "--json")  # one environment: no name needed
    assert (
        plan.code == 0 and schemas.check(plan.json(), "DeployPlan")["environment_id"] == env["id"]
    )
    watching = cli.start("deploy", "production")
    waiting = watching.wait_for_line(lambda line: "OpenOnboardingPR" in line and "/pull/" in line)
    assert "waiting" in waiting
    cancel = cli("deploys", "cancel", "production", "--json")
    assert cancel.code == 0, cancel.err
    assert schemas.check(cancel.json(), "DeployPublic")["status"] == "cancelled"
    cancelled = watching.finish()
    assert cancelled.code == 3, cancelled.out
    assert "deploy cancelled at OpenOnboardingPR: cancelled by" in cancelled.out

    # Deploy again: the timeline, the PR merged by its owner, the live URL.
    watching = cli.start("deploy", "production", "--repo", full_name)
    watching.wait_for_line(lambda line: "OpenOnboardingPR" in line and "/pull/" in line)
    local.merge_onboarding_pr(full_name)
    deployed = watching.finish()
    assert deployed.code == 0, deployed.out + deployed.err
    timeline = [line.split()[0] for line in deployed.out.splitlines() if line.startswith("  ")]
    for step in ["LoadContext", "OpenOnboardingPR", "EnsureInstance", "WaitForAgent", "Done"]:
        assert step in timeline, deployed.out
    assert "Cost: no VM cost" in deployed.out
    assert "deploy succeeded in" in deployed.out and env["url"] in deployed.out
    assert "\x1b" not in deployed.out  # piped: no colour, no cursor movement
    assert "version 1.0.0" in local.get_app(env["url"]).text

    # Operate: status, logs, metrics, doctor.
    status = cli("status", "--json")
    assert status.code == 0, status.err
    report = Status.model_validate(status.json())
    schemas.check(status.json()["instance"], "InstancePublic")
    schemas.check(status.json()["last_deploy"], "DeployPublic")
    assert report.instance and report.instance.agent_connected
    assert report.last_deploy and report.last_deploy.status == "succeeded"
    human = cli("status")
    assert human.code == 0 and "connected" in human.out and env["url"] in human.out
    local.get_app(env["url"])  # the app logs each request
    logs = cli("logs", "--lines", "50", "--json")
    assert logs.code == 0, logs.err
    lines = schemas.check(logs.json(), "LogLines")["lines"]
    assert any("GET / " in line["text"] for line in lines)
    assert cli("metrics").code == 0
    metrics = cli("metrics", "--json")
    assert metrics.code == 0 and schemas.check(metrics.json(), "Metrics")["container_count"]
    doctor = cli("doctor", "--json")
    assert doctor.code == 0, doctor.out
    assert Doctor.model_validate(doctor.json()).healthy
    schemas.check(doctor.json()["diagnosis"], "Diagnosis")

    # Env vars: a plain one and a secret from stdin, then a second deploy uses them.
    assert cli("env", "set", "APP_VERSION=2.0.0").code == 0
    secret = cli("env", "set", "--secret", "API_TOKEN", "--json", input="s3cr3t-value\n")
    assert secret.code == 0, secret.err
    assert "s3cr3t-value" not in secret.out
    env_vars = cli("env", "list", "--json").json()["items"]
    for item in env_vars:
        schemas.check(item, "EnvVarPublic")
    assert {(v["name"], v["value"]) for v in env_vars} == {
        ("APP_VERSION", "2.0.0"),
        ("API_TOKEN", "********"),
    }
    second = cli("deploy", "--json")
    assert second.code == 0, second.err
    assert schemas.check(second.json(), "DeployPublic")["status"] == "succeeded"
    assert "version 2.0.0" in local.get_app(env["url"]).text
    history = schemas.check(cli("deploys", "list", "--json").json(), "ListOf_DeployPublic_")
    assert [d["status"] for d in history["items"]] == ["succeeded", "succeeded", "cancelled"]
    shown = cli("deploys", "show", history["items"][2]["id"])
    assert shown.code == 3 and "cancelled" in shown.out

    # Destroy: refused without a confirmation, then done with --yes.
    unconfirmed = cli("destroy", "production")
    assert unconfirmed.code == 2 and "--yes" in unconfirmed.error_line
    destroyed = cli("destroy", "production", "--yes")
    assert destroyed.code == 0, destroyed.out + destroyed.err
    assert "teardown succeeded" in destroyed.out
    gone = cli("status", "production")
    assert gone.code == 2 and "no environment named 'production'" in gone.error_line


def test_a_failed_deploy_names_the_step_and_links_the_actions_log(cli: Cli, local: Local, tmp_path):
    source = tmp_path / "broken"
    shutil.copytree(SAMPLE_APP, source)
    app_py = source / "app.py"
    app_py.write_text(app_py.read_text().replace('"/up"', '"/never-healthy"'))  # no health
    full_name = local.cloud.github.create_repo("acme", "broken", source_dir=source).full_name
    installation = str(local.cloud.github.installation_id("acme"))
    assert cli("repos", "connect", full_name, "--installation-id", installation).code == 0
    created = cli("envs", "create", "production", "--repo", full_name, "--target", local.target_id)
    assert created.code == 0, created.err
    watching = cli.start("deploy", "production", "--repo", full_name)
    watching.wait_for_line(lambda line: "OpenOnboardingPR" in line and "/pull/" in line)
    local.merge_onboarding_pr(full_name)
    failed = watching.finish()
    assert failed.code == 1, failed.out + failed.err
    last = failed.out.splitlines()[-2:]
    assert last[0].startswith("deploy failed at DispatchWorkflow: "), failed.out
    assert re.fullmatch(r"GitHub Actions log: http\S+/actions/runs/\d+", last[1]), failed.out


def test_logs_follow_prints_each_new_line_once(cli: Cli, local: Local, tmp_path: Path):
    app = local.new_app(tmp_path, "followed")
    assert local.deploy_until_done(app)["status"] == "succeeded"
    repo = app["repo"].full_name
    following = cli.start("logs", "production", "--repo", repo, "-f", "--lines", "5")
    following.wait_for_line(bool)  # the first batch
    url = app["env"]["url"]
    for marker in ("first-marker", "second-marker"):
        local.get_app(f"{url}/{marker}")
        following.wait_for_line(lambda line, m=marker: m in line)
    following.process.send_signal(signal.SIGINT)
    result = following.finish()
    assert result.code == 0, result.err
    printed = [line for line in following.lines if line]
    assert sum("first-marker" in line for line in printed) == 1
    assert len(printed) == len(set(printed)), "a line was printed twice"  # each has its time


def test_bad_input_gets_one_clear_line_and_the_right_exit_code(cli: Cli, local: Local, tmp_path):
    unknown = cli("status", "nosuchenv")
    assert unknown.code == 2 and "no environment named 'nosuchenv'" in unknown.error_line
    apps = [local.new_app(tmp_path, name) for name in ("twin-a", "twin-b")]
    ambiguous = cli("deploy", "production")
    assert ambiguous.code == 2 and "--repo" in ambiguous.error_line
    assert all(a["repo"].full_name in ambiguous.error_line for a in apps)
    named = cli("deploy", "production", "--repo", apps[0]["repo"].full_name, "--dry-run", "--json")
    assert named.code == 0 and named.json()["environment_id"] == apps[0]["env"]["id"]

    no_key = cli("login", "--url", local.stack.app_urls["rest"], input="")
    assert no_key.code == 2 and "no API key on stdin" in no_key.error_line

    # A token or secret on the command line is refused, and never echoed.
    for args in (
        ("targets", "add", "hetzner", "--token", "tok-in-argv-123"),
        ("targets", "add", "hetzner", "tok-in-argv-123"),
        ("env", "set", "--secret", "API_TOKEN=tok-in-argv-123"),
        ("login", "--url", "http://x", "--key", "tok-in-argv-123"),
    ):
        refused = cli(*args)
        assert refused.code == 2, args
        assert "tok-in-argv-123" not in refused.out + refused.err, args
        refused.error_line  # noqa: B018 (one line)
    advice = cli("targets", "add", "hetzner", "--token", "tok-in-argv-123").error_line
    assert "pipe it in" in advice

    # A revoked key, and a rotated one, stop working at once, with what to do.
    assert cli("login").code == 0  # the stack's admin, as profile "local"
    url = local.stack.app_urls["rest"]
    keys = {}
    for name, scope in (("ci", "read"), ("ci2", "deploy")):
        made = cli("keys", "create", name, "--scope", scope, "--json", "--profile", "local")
        assert made.code == 0, made.err
        keys[name] = made.json()
        login = cli("login", "--url", url, "--profile", name, input=keys[name]["key"])
        assert login.code == 0, login.err
    assert cli("whoami", "--profile", "ci").code == 0
    forbidden = cli("targets", "add", "local", "--profile", "ci")
    assert forbidden.code == 1 and "[insufficient_scope]" in forbidden.error_line
    assert cli("keys", "revoke", keys["ci"]["id"], "--profile", "local").code == 0
    revoked = cli("whoami", "--profile", "ci")
    assert revoked.code == 1
    assert "[unauthenticated]" in revoked.error_line and "vmkit login" in revoked.error_line
    rotated = cli("keys", "rotate", keys["ci2"]["id"], "--json", "--profile", "local")
    assert rotated.code == 0 and rotated.json()["key"] != keys["ci2"]["key"]
    assert cli("whoami", "--profile", "ci2").code == 1

    # A stack that is down: its URL no longer answers, or its local.json names a dead process.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    never = cli("login", "--url", closed, "--profile", "down", input="vmk_0123456789abcdef_x")
    assert never.code == 1 and "cannot reach VMKit" in never.error_line
    gone = tmp_path / "gone" / ".vmkit" / "local.json"
    gone.parent.mkdir(parents=True)
    gone.write_text(json.dumps({**local.stack.local_json, "pid": _dead_pid()}))
    config = cli.home / ".config" / "vmkit" / "config.toml"
    config.write_text(
        config.read_text()
        + f'\n[profiles.stale]\nlocal_state = "{gone}"\n'
        + f'\n[profiles.remote]\nurl = "{closed}"\nkey = "vmk_0123456789abcdef_x"\n'
    )
    stale = cli("whoami", "--profile", "stale")
    assert stale.code == 1 and "not running" in stale.error_line
    assert "vmkit local up" in stale.error_line
    unreachable = cli("whoami", "--profile", "remote")
    assert unreachable.code == 1
    assert f"cannot reach VMKit at {closed} (connection refused)" in unreachable.error_line
    as_json = cli("whoami", "--profile", "remote", "--json")
    assert as_json.code == 1 and "cannot reach" in as_json.json()["error"]["message"]


def _dead_pid() -> int:
    """A pid that no process has: one just reaped."""
    import subprocess

    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


# --- in a terminal ---------------------------------------------------------------------------

COLOUR = re.compile(r"\x1b\[(?:\d+;)*(?:3[0-7]|9[0-7]|38;5;\d+)(?:;\d+)*m")
SPINNER = re.compile("[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]")


def _terminal(cli: Cli, *args: str, **env: str) -> pexpect.spawn:
    child = pexpect.spawn(
        str(VMKIT),
        list(args),
        cwd=str(cli.cwd),
        env=cli.env(TERM="xterm-256color", **env),
        dimensions=(50, 220),
        encoding="utf-8",
        timeout=60,
    )
    child.logfile_read = io.StringIO()
    return child


def _plain(screen: str) -> str:
    """What the screen says, without colours and cursor movement."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)


def _ended(child: pexpect.spawn) -> tuple[int, str]:
    child.expect(pexpect.EOF, timeout=90)
    child.close()
    screen = child.logfile_read.getvalue()
    assert "Traceback" not in screen, screen
    return child.exitstatus, screen


def test_a_deploy_in_a_terminal_spins_while_it_waits_and_ends_with_the_url(
    cli: Cli, local: Local, tmp_path: Path
):
    app = local.new_app(tmp_path, "terminal")
    repo = app["repo"].full_name
    child = _terminal(cli, "deploy", "production", "--repo", repo)
    child.expect(r"OpenOnboardingPR\S*\s+\S*\d+\.\ds\S*\s+merge \S+/pull/\d+ to continue")
    child.expect(SPINNER)  # the spinner keeps turning while the PR waits
    child.expect(SPINNER)
    local.merge_onboarding_pr(repo)
    child.expect("deploy succeeded")
    code, screen = _ended(child)
    assert code == 0, screen
    assert app["env"]["url"] in screen
    plain = _plain(screen)
    assert re.search(
        r"OpenOnboardingPR\s+waited\s+\S+\s+merge \S+/pull/\d+ to continue\s+\(", plain
    )
    assert COLOUR.search(screen), "a terminal gets colour"


def test_ctrl_c_while_watching_asks_to_detach_or_cancel(cli: Cli, local: Local, tmp_path: Path):
    app = local.new_app(tmp_path, "interrupted")
    repo = app["repo"].full_name
    child = _terminal(cli, "deploy", "production", "--repo", repo)
    child.expect(r"/pull/\d+")
    child.sendintr()
    child.expect(r"\[c\]ancel the deploy, \[d\]etach")
    child.sendline("d")
    child.expect("still waiting for pr")
    code, screen = _ended(child)
    assert code == 0, screen
    assert "/pull/" in _plain(screen).split("[d]etach")[-1]  # the link stays on the screen
    deploy = local.api.get("/api/deploys", params={"environment_id": app["env"]["id"]}).json()
    running = deploy["items"][0]
    assert running["status"] == "waiting_for_pr"  # detaching left it alone

    child = _terminal(cli, "deploys", "show", running["id"], "--watch")
    child.expect(r"/pull/\d+")
    child.sendintr()
    child.expect(r"\[c\]ancel the deploy")
    child.sendline("c")
    child.expect("deploy cancelled")
    code, screen = _ended(child)
    assert code == 3, screen
    assert "deploy cancelled at OpenOnboardingPR: cancelled by" in _plain(screen)
    after = local.api.get(f"/api/deploys/{running['id']}").json()
    assert after["status"] == "cancelled"


def test_colour_only_on_a_terminal_and_never_with_no_color(cli: Cli, local: Local):
    coloured = _terminal(cli, "deploys", "list")
    assert _ended(coloured)[0] == 0
    assert COLOUR.search(coloured.logfile_read.getvalue())
    plain = _terminal(cli, "deploys", "list", NO_COLOR="1")
    assert _ended(plain)[0] == 0
    assert not COLOUR.search(plain.logfile_read.getvalue())
    piped = cli("deploys", "list")
    assert piped.code == 0 and "\x1b" not in piped.out
