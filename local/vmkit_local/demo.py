"""`make demo`: one full deploy on the embedded local stack, narrated.

It plays both people in the story. As the *user*, through VMKit's REST API only: add
this machine as a compute target, connect the repo, create `production`, deploy, and
follow the deploy step by step. As *GitHub* and the repo owner, through the GitHub
simulator: hold the sample app (`examples/hello`) in a repo with the VMKit App
installed, and merge the onboarding pull request when VMKit opens it. It ends by
fetching the app's URL and printing what the app answered; any failure exits non-zero.
Each step's line starts with how long it took (since the step before it).

`make demo-vm` (`--vm`) runs the same story with the server a real qemu guest.
"""

from __future__ import annotations

import argparse
import base64
import signal
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from vmkit_local.embedded import ROOT, EmbeddedConfig, build

SAMPLE_APP = ROOT / "examples" / "hello"
DEPLOY_TIMEOUT_S = 180
VM_DEPLOY_TIMEOUT_S = 900  # a first boot under software emulation, the image build
POLL_S = 0.25


class DemoFailed(Exception):
    pass


def say(text: str) -> None:
    print(text, flush=True)


def run(data_dir: Path, vm: bool = False, keep: bool = False) -> str:
    started = time.monotonic()
    # The functions' own logs (Powertools JSON) stay quiet unless something is wrong.
    config = EmbeddedConfig(
        data_dir=data_dir,
        state_file=None,
        parameter_overrides={"LogLevel": "WARNING"},
        vm=vm,
        agent_wait_seconds=600 if vm else EmbeddedConfig.agent_wait_seconds,
    )
    stack, cloud = build(config)
    with stack:
        if vm:
            image = cloud.guests.image()
            how = f"built in {image.build_seconds:.0f} s" if image.build_seconds else "cached"
            say(f"guest image {image.digest}: {how}; servers are qemu guests")
        say(
            f"VMKit is up on this machine in {stack.startup_seconds:.1f} s "
            f"(REST {stack.app_urls['rest']}, agents {stack.ws_url})"
        )
        api = httpx.Client(
            base_url=stack.app_urls["rest"],
            timeout=30,
            headers={"Authorization": f"Bearer {stack.local_json['api_key']}"},
        )
        workspace_id = _ok(api.get("/api/auth/me"))["workspace_id"]
        installation_id = cloud.connect_account("demo", workspace_id)
        repo = cloud.github.create_repo("demo", "hello", source_dir=SAMPLE_APP)
        say(
            f"GitHub (simulated): {repo.full_name} holds examples/hello; the VMKit App is installed on it"
        )

        target = _ok(
            api.post("/api/compute-targets", json={"name": "this machine", "provider": "local"})
        )
        connected = _ok(
            api.post(
                "/api/repos",
                json={
                    "full_name": repo.full_name,
                    "installation_id": installation_id,
                },
            )
        )
        env = _ok(
            api.post(
                "/api/environments",
                json={
                    "repo_id": connected["id"],
                    "name": "production",
                    "compute_target_id": target["id"],
                },
            )
        )
        say(
            f"environment {env['name']} of {repo.full_name} on '{target['name']}' will answer at {env['url']}"
        )

        deploy = _ok(api.post(f"/api/environments/{env['id']}/deploys", json={}))
        say(f"deploy {deploy['id']} started")
        deploy = _follow(
            api,
            deploy["id"],
            merge=lambda: _merge_onboarding_pr(cloud, repo.full_name),
            timeout=VM_DEPLOY_TIMEOUT_S if vm else DEPLOY_TIMEOUT_S,
        )
        if deploy["status"] != "succeeded":
            failure = deploy.get("failure") or {}
            if deploy.get("run_url"):
                log_tail = httpx.get(deploy["run_url"], timeout=10).text.strip().splitlines()[-25:]
                say(
                    "\nthe end of the GitHub Actions log:\n"
                    + "\n".join(f"  | {line}" for line in log_tail)
                )
            raise DemoFailed(
                f"the deploy {deploy['status']} at {failure.get('step')}: {failure.get('reason')}"
            )
        url = deploy["url"]
        answer = _get_app(url)
        say(f"\n{url} answered {answer.status_code}: {answer.text.strip()}")
        say(f"(a full deploy, from an empty stack, in {time.monotonic() - started:.1f} s)")
        page = f"{stack.app_urls['rest']}/deploys/{deploy['id']}"
        say(f"the deploy in the dashboard: {page}")
        if answer.status_code != 200:
            raise DemoFailed("the app did not answer 200")
        if keep:
            say(
                f"the stack stays up until Ctrl-C; sign in to the dashboard with the key "
                f"{stack.local_json['api_key']}"
            )
            stop = {signal.SIGINT, signal.SIGTERM}
            signal.pthread_sigmask(signal.SIG_BLOCK, stop)
            signal.sigwait(stop)
        else:
            say("(`make demo KEEP=1` keeps the stack up to open it)")
        return url


def _follow(
    api: httpx.Client, deploy_id: str, merge: Any, timeout: float = DEPLOY_TIMEOUT_S
) -> dict[str, Any]:
    """Print each step as it is recorded (with the time since the one before), until the
    deploy ends."""
    shown, merged = 0, False
    previous = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        deploy = _ok(api.get(f"/api/deploys/{deploy_id}"))
        for step in deploy["steps"][shown:]:
            at = datetime.fromisoformat(step["at"])
            took = f"{(at - previous).total_seconds():6.1f}s" if previous else "      "
            previous = at
            say(f"  {took} {step['name']:<20} {step['status']:<10} {step.get('detail') or ''}")
        shown = len(deploy["steps"])
        pr_opened = bool(deploy["steps"]) and "/pull/" in (deploy["steps"][-1].get("detail") or "")
        if deploy["status"] == "waiting_for_pr" and pr_opened and not merged:
            merge()
            merged = True
        if deploy["status"] in ("succeeded", "failed", "cancelled"):
            return deploy
        time.sleep(POLL_S)
    raise DemoFailed(f"the deploy did not finish within {timeout:.0f} s")


def _as_app(cloud: Any, owner: str) -> Any:
    """A GitHub client with the App's installation token on `owner`: what the repo owner's
    actions (a merge, a push) go through here."""
    from githubkit import AppInstallationAuthStrategy, GitHub

    github = cloud.github
    auth = AppInstallationAuthStrategy(
        str(github.app_id), github.app_private_key_pem, github.installation_id(owner)
    )
    return GitHub(auth, base_url=cloud.urls["github"])


def _merge_onboarding_pr(cloud: Any, full_name: str) -> None:
    """The repo owner reviews VMKit's pull request and merges it."""
    owner, name = full_name.split("/")
    with _as_app(cloud, owner) as client:
        pulls = client.rest.pulls.list(owner, name, state="open").parsed_data
        if not pulls:
            raise DemoFailed("VMKit said it opened a pull request, but none is open")
        client.rest.pulls.merge(owner, name, pulls[0].number, data={"merge_method": "merge"})
    say(f"  (the repo owner merges pull request #{pulls[0].number}: {pulls[0].title})")


def push_commit(cloud: Any, full_name: str, path: str, content: str, message: str) -> None:
    """The repo owner changes one file on the default branch (tests use it for v2, a
    broken health check, its fix)."""
    owner, name = full_name.split("/")
    with _as_app(cloud, owner) as client:
        current = client.rest.repos.get_content(owner, name, path).parsed_data
        client.rest.repos.create_or_update_file_contents(
            owner,
            name,
            path,
            data={
                "message": message,
                "content": base64.b64encode(content.encode()).decode(),
                "sha": current.sha,
            },
        )


def _get_app(url: str) -> httpx.Response:
    """Fetch the app the way a browser would; Python's resolver does not map *.localhost
    to loopback as browsers and curl do, so connect to 127.0.0.1 with the Host header."""
    parsed = httpx.URL(url)
    return httpx.get(
        str(parsed.copy_with(host="127.0.0.1")),
        headers={"Host": f"{parsed.host}:{parsed.port}"},
        timeout=10,
    )


def _ok(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        raise DemoFailed(
            f"{response.request.method} {response.request.url.path} → {response.status_code}: {response.text}"
        )
    return response.json()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vmkit_local.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--vm", action="store_true", help="deploy to a real qemu guest")
    parser.add_argument(
        "--keep", action="store_true", help="keep the stack up after the deploy (Ctrl-C stops it)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vmkit-demo-") as data_dir:
        try:
            run(Path(data_dir), vm=args.vm, keep=args.keep)
        except DemoFailed as error:
            say(f"\ndemo failed: {error}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
