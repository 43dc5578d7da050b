"""Turning the names people type into the API's ids.

People say `production` and `acme/shop`; the API speaks `env_…` and `repo_…`. An
environment's name is unique within its repo, so a name shared by several repos
needs `--repo`; an omitted name is fine while there is only one environment to mean.
Ids are accepted everywhere a name is.
"""

from __future__ import annotations

from dataclasses import dataclass

from vmkit.schemas import ComputeTargetPublic, EnvironmentPublic, RepoPublic
from vmkit_cli.client import VMKitClient
from vmkit_cli.errors import UsageError


@dataclass(frozen=True)
class Named:
    """An environment with its repo, as people refer to it."""

    env: EnvironmentPublic
    repo: RepoPublic

    @property
    def label(self) -> str:
        return f"{self.env.name} of {self.repo.full_name}"


def repo(client: VMKitClient, ref: str) -> RepoPublic:
    repos = client.list_repos()
    found = [r for r in repos if ref in (r.id, r.full_name) or r.full_name.lower() == ref.lower()]
    if not found:
        known = ", ".join(r.full_name for r in repos) or "none yet"
        raise UsageError(
            f"no connected repo {ref!r} (connected: {known})",
            hint=f"connect it with `vmkit repos connect {ref}`" if "/" in ref else None,
        )
    return found[0]


def environment(client: VMKitClient, name: str | None, repo_ref: str | None) -> Named:
    if name and name.startswith("env_"):
        env = client.get_environment(name)
        return Named(env, client.get_repo(env.repo_id))
    repos = {r.id: r for r in client.list_repos()}
    scope = repo(client, repo_ref) if repo_ref else None
    envs = client.list_environments(scope.id if scope else None)
    candidates = [e for e in envs if name is None or name in (e.name, e.slug)]
    choices = ", ".join(sorted(f"{e.name} ({repos[e.repo_id].full_name})" for e in envs))
    where = f" in {scope.full_name}" if scope else ""
    if not candidates:
        if name is None:
            raise UsageError(
                f"no environments{where} yet",
                hint="create one with `vmkit envs create NAME --repo OWNER/NAME`",
            )
        raise UsageError(
            f"no environment named {name!r}{where} (environments: {choices or 'none'})",
            hint="check the name with `vmkit envs list`",
        )
    if len(candidates) > 1:
        if name is None:
            raise UsageError(
                f"which environment? there are several{where}: {choices}",
                hint="name one, e.g. `vmkit status production --repo OWNER/NAME`",
            )
        raise UsageError(
            f"{name!r} is an environment of several repos: "
            + ", ".join(sorted(repos[e.repo_id].full_name for e in candidates)),
            hint="say which with --repo OWNER/NAME",
        )
    return Named(candidates[0], repos[candidates[0].repo_id])


def target(client: VMKitClient, ref: str | None) -> ComputeTargetPublic:
    targets = client.list_targets()
    if ref is None:
        if len(targets) == 1:
            return targets[0]
        if not targets:
            raise UsageError(
                "no compute targets yet", hint="add one with `vmkit targets add hetzner`"
            )
        raise UsageError(
            "which compute target? there are several: " + ", ".join(t.name for t in targets),
            hint="say which with --target NAME",
        )
    found = [t for t in targets if ref in (t.id, t.name)]
    if not found:
        raise UsageError(
            f"no compute target {ref!r} (targets: {', '.join(t.name for t in targets) or 'none'})",
            hint="list them with `vmkit targets list`",
        )
    return found[0]
