"""The dashboard's pages: each one a thin handler over the services REST and MCP use.

Server-rendered (Jinja2) with htmx for the live parts, so a page works with nothing
but the HTML, the same rights apply as everywhere (the services check the scope; a
control a role may not use is not shown either), and no build step or bundle exists.
Mutations are POSTs with a CSRF token (`vmkit.web.session`) that redirect to the page
showing the result; a secret shown once (a new API key) is shown in that POST's own
response, never stored for a later page.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from jinja2 import Environment as Jinja
from jinja2 import FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from vmkit import auth, catalog
from vmkit.auth import Principal
from vmkit.deps import Deps, get_deps
from vmkit.errors import InvalidInput, NotFound, Unauthenticated, VMKitError
from vmkit.models import (
    Deploy,
    DeployStatus,
    Environment,
    Interface,
    Member,
    Provider,
    Role,
    Scope,
    Workspace,
    utcnow,
)
from vmkit.schemas import (
    ApiKeyCreate,
    ApiKeyPublic,
    ComputeTargetCreate,
    DeployCreate,
    DeployPublic,
    EnvironmentCreate,
    EnvironmentPublic,
    EnvVarInput,
    EnvVarsUpdate,
    InstancePublic,
    MemberPublic,
    RepoCreate,
    RepoPublic,
)
from vmkit.services import (
    audit,
    compute_targets,
    deploys,
    environments,
    installations,
    instances,
    keys,
    members,
    repos,
    workspaces,
)
from vmkit.web import session

HERE = Path(__file__).parent
# An agent heartbeats every 4 minutes; API Gateway drops a connection idle for 10.
HEARTBEAT_MISSING_AFTER = timedelta(minutes=10)
NO_STORE = {"Cache-Control": "no-store"}


class Form:
    """An `application/x-www-form-urlencoded` body (parsed here: no multipart library)."""

    def __init__(self, body: bytes):
        self.values = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)

    def get(self, name: str, default: str = "") -> str:
        return self.values.get(name, [default])[0].strip()

    def raw(self, name: str) -> str:
        return self.values.get(name, [""])[0]

    def getlist(self, name: str) -> list[str]:
        return [v.strip() for v in self.values.get(name, []) if v.strip()]

    def flat(self) -> dict[str, str]:
        return {name: values[0] for name, values in self.values.items()}


_jinja = Jinja(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _ago(value: Any) -> str:
    if value is None:
        return "never"
    seconds = int((utcnow() - value).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{max(seconds, 0)} s ago"


_URL = re.compile(r"https?://[^\s<>\"')]+")


def _linkify(text: str | None) -> Markup:
    """Escape a step's detail and make the URLs in it (a pull request, an Actions run)
    links."""
    escaped = str(escape(text or ""))
    link = lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>'  # noqa: E731
    return Markup(_URL.sub(link, escaped))  # noqa: S704 (the text is escaped first)


_jinja.filters["ago"] = _ago
_jinja.filters["linkify"] = _linkify
_jinja.filters["money"] = lambda v: "free" if not v else f"${v:,.2f}/month"


class View:
    """What every page's template sees: who is signed in and what they may change."""

    def __init__(self, request: Request, deps: Deps, principal: Principal | None):
        self.request = request
        self.deps = deps
        self.principal = principal

    @property
    def member(self) -> Member | None:
        p = self.principal
        if p is None or p.key_id:
            return None
        return self.deps.store.find(Member, p.workspace_id, p.actor)

    def render(self, name: str, status: int = 200, headers: dict | None = None, **ctx) -> Response:
        p = self.principal
        member = self.member
        others = [
            (m, w)
            for m, w in (workspaces.memberships(self.deps, p) if p else [])
            if w.id != p.workspace_id
        ]
        html = _jinja.get_template(name).render(
            workspace_name=self._workspace_name(),
            other_workspaces=others,
            request=self.request,
            path=self.request.url.path,
            csrf=session.csrf_token(self.request),
            principal=p,
            who=member.login if member else (p.actor if p else None),
            role=member.role.value if member else None,
            can_read=bool(p),
            can_deploy=bool(p and p.can(Scope.deploy)),
            can_admin=bool(p and p.can(Scope.admin)),
            restricted=bool(p and p.environment_ids),
            **ctx,
        )
        return HTMLResponse(html, status, headers={**NO_STORE, **(headers or {})})

    def _workspace_name(self) -> str | None:
        if self.principal is None:
            return None
        ws = self.deps.store.find(
            Workspace, self.principal.workspace_id, self.principal.workspace_id
        )
        return ws.name if ws else None


Handler = Callable[[View, Request], Awaitable[Response]]


def page(handler: Handler, *, public: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """Authenticate, check CSRF on anything but GET, and turn domain errors into a page
    that shows the API's message (what went wrong and what to do) and its code."""

    async def endpoint(request: Request) -> Response:
        deps = get_deps()
        principal = session.principal(deps, request)
        view = View(request, deps, principal)
        htmx = request.headers.get("hx-request") == "true"
        try:
            if principal is None and not public:
                if htmx:
                    raise Unauthenticated("your sign-in has ended; sign in again")
                return RedirectResponse(f"/login?next={quote(request.url.path)}", 303)
            if request.method != "GET":
                form = Form(await request.body())
                session.check_csrf(request, form.flat())
                request.state.form = form
            return await handler(view, request)
        except VMKitError as exc:
            template = "_error.html" if htmx else "error.html"
            return view.render(template, exc.status, error=exc.to_dict(), back=_back(request))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in exc.errors()
            )
            error = {"code": "invalid_input", "message": f"{problems}; correct it and try again"}
            template = "_error.html" if htmx else "error.html"
            return view.render(template, 422, error=error, back=_back(request))

    return endpoint


def _local(path: str | None) -> str:
    """A path on the dashboard itself, or `/`: never a redirect to another site."""
    path = path or ""
    return path if path.startswith("/") and not path.startswith(("//", "/\\")) else "/"


def _back(request: Request) -> str:
    """Where an error page's "back" link goes: the page the form was on."""
    form = getattr(request.state, "form", None)
    return _local(form.get("back") if form else "")


def _form(request: Request) -> Form:
    return request.state.form


def _redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


def _env_public(deps: Deps, env) -> EnvironmentPublic:
    return EnvironmentPublic.from_record(env, deps.settings.apps_url_template)


# --- signing in and out -------------------------------------------------------------------


async def login_page(view: View, request: Request) -> Response:
    if view.principal is not None:
        return _redirect("/")
    token = request.cookies.get(session.PRE_CSRF_COOKIE) or session.new_pre_csrf()
    github = bool(view.deps.settings.github_oauth_parameter)
    response = view.render(
        "login.html", github=github, pre_csrf=token, next=_local(request.query_params.get("next"))
    )
    response.set_cookie(
        session.PRE_CSRF_COOKIE,
        token,
        max_age=3600,
        path="/login",
        httponly=True,
        secure=session.secure_cookies(view.deps, request),
        samesite="strict",
    )
    return response


async def login_with_key(view: View, request: Request) -> Response:
    key = _form(request).get("api_key")
    auth.authenticate_api_key(view.deps.store, key, Interface.rest)  # 401 if not valid
    response = _redirect(_local(_form(request).get("next")))
    session.set_credential(view.deps, request, response, key)
    response.delete_cookie(session.PRE_CSRF_COOKIE, path="/login")
    return response


async def logout(view: View, request: Request) -> Response:
    credential = request.cookies.get(session.COOKIE, "")
    if credential and not credential.startswith(auth.API_KEY_PREFIX + "_"):
        workspaces.logout(view.deps, credential)
    response = _redirect("/login?signed_out=1")
    session.clear_credential(response)
    return response


async def switch_workspace(view: View, request: Request) -> Response:
    credential = request.cookies.get(session.COOKIE, "")
    if credential.startswith(auth.API_KEY_PREFIX + "_"):
        raise InvalidInput(
            "an API key belongs to one workspace; sign in with GitHub to switch",
            code="key_workspace",
        )
    token = workspaces.switch_workspace(view.deps, credential, _form(request).get("workspace_id"))
    response = _redirect("/")
    session.set_credential(view.deps, request, response, token)
    return response


# --- overview and onboarding ----------------------------------------------------------------


async def overview(view: View, request: Request) -> Response:
    deps, p = view.deps, view.principal
    envs = environments.list_environments(deps, p, limit=100).items
    connected = repos.list_repos(deps, p, limit=100).items
    targets = compute_targets.list_targets(deps, p, limit=100).items
    held = installations.list_installations(deps, p)
    recent = deploys.list_deploys(deps, p, limit=10).items
    steps = [
        ("Connect the GitHub App", bool(held), "/settings/github"),
        ("Add a compute target", bool(targets), "/settings/targets"),
        ("Connect a repo", bool(connected), "/settings/github#repos"),
        ("Create an environment", bool(envs), "/environments/new"),
        ("Deploy", any(d.status is DeployStatus.succeeded for d in recent), None),
    ]
    repo_names = {r.id: r.full_name for r in connected}
    return view.render(
        "overview.html",
        steps=steps,
        done=all(done for _, done, _ in steps),
        environments=[_env_public(deps, e) for e in envs],
        repo_names=repo_names,
        deploys=[DeployPublic.model_validate(d) for d in recent],
    )


# --- GitHub: the App's installations and repos ---------------------------------------------


async def github_page(view: View, request: Request) -> Response:
    deps, p = view.deps, view.principal
    held = installations.list_installations(deps, p)
    install_url, install_error = None, None
    if p.can(Scope.admin):
        try:
            install_url = installations.install_url(deps, p)
        except VMKitError as exc:  # the operator has not configured the App's slug
            install_error = exc.message
    available, available_error = [], None
    if p.can(Scope.admin) and p.session_id:
        try:
            available = [
                (info, holder)
                for info, holder in installations.available(deps, p)
                if holder != p.workspace_id
            ]
        except VMKitError as exc:
            available_error = exc.message
    options = []
    for inst in held:
        try:
            found = installations.repositories(deps, p, int(inst.id))
        except VMKitError as exc:
            options.append((inst, [], exc.message))
            continue
        options.append((inst, found, None))
    connected = {r.full_name for r in repos.list_repos(deps, p, limit=100).items}
    return view.render(
        "github.html",
        held=held,
        install_url=install_url,
        install_error=install_error,
        available=available,
        available_error=available_error,
        options=options,
        connected=connected,
        just_installed=request.query_params.get("installation_id"),
    )


async def claim_installation(view: View, request: Request) -> Response:
    installation_id = int(_form(request).get("installation_id") or 0)
    installations.claim(view.deps, view.principal, installation_id)
    return _redirect(f"/settings/github?installation_id={installation_id}")


async def connect_repo(view: View, request: Request) -> Response:
    form = _form(request)
    data = RepoCreate(
        full_name=form.get("full_name"),
        installation_id=int(form.get("installation_id")) if form.get("installation_id") else None,
    )
    repo = repos.connect_repo(view.deps, view.principal, data)
    return _redirect(f"/environments/new?repo_id={repo.id}")


async def repos_page(view: View, request: Request) -> Response:
    """Connected repos with their onboarding state and environments."""
    deps, p = view.deps, view.principal
    found = repos.list_repos(deps, p, limit=100).items
    envs = environments.list_environments(deps, p, limit=200).items
    by_repo: dict[str, list[EnvironmentPublic]] = {}
    for env in envs:
        by_repo.setdefault(env.repo_id, []).append(_env_public(deps, env))
    return view.render(
        "repos.html", repos=[RepoPublic.model_validate(r) for r in found], by_repo=by_repo
    )


# --- compute targets ------------------------------------------------------------------------


async def targets_page(view: View, request: Request) -> Response:
    found = compute_targets.list_targets(view.deps, view.principal, limit=100).items
    return view.render(
        "targets.html",
        targets=found,
        providers=[Provider.hetzner, Provider.digitalocean, Provider.local],
    )


async def add_target(view: View, request: Request) -> Response:
    form = _form(request)
    data = ComputeTargetCreate(
        name=form.get("name"),
        provider=form.get("provider"),
        token=form.raw("token").strip() or None,
        default_region=form.get("default_region") or None,
    )
    compute_targets.create_target(view.deps, view.principal, data)
    return _redirect("/settings/targets")


async def delete_target(view: View, request: Request) -> Response:
    compute_targets.delete_target(view.deps, view.principal, request.path_params["target_id"])
    return _redirect("/settings/targets")


# --- environments ---------------------------------------------------------------------------


def _offers(targets) -> list[dict[str, Any]]:
    """Each target with its provider's sizes (and monthly prices) and regions."""
    out = []
    for target in targets:
        offer = catalog.offer(target.provider)
        out.append(
            {
                "target": target,
                "sizes": [
                    (name, st, catalog.monthly_cost(target.provider, name))
                    for name, st in offer.types.items()
                ],
                "regions": offer.regions,
                "default_size": catalog.default_server_type(target.provider),
            }
        )
    return out


async def new_environment(view: View, request: Request) -> Response:
    deps, p = view.deps, view.principal
    return view.render(
        "environment_new.html",
        repos=repos.list_repos(deps, p, limit=100).items,
        offers=_offers(compute_targets.list_targets(deps, p, limit=100).items),
        repo_id=request.query_params.get("repo_id"),
    )


async def create_environment(view: View, request: Request) -> Response:
    form = _form(request)
    target_id = form.get("compute_target_id")
    data = EnvironmentCreate(
        repo_id=form.get("repo_id"),
        name=form.get("name"),
        compute_target_id=target_id,
        server_type=form.get(f"server_type.{target_id}") or form.get("server_type") or None,
        region=form.get(f"region.{target_id}") or form.get("region") or None,
    )
    env = environments.create_environment(view.deps, view.principal, data)
    return _redirect(f"/environments/{env.id}")


async def environment_page(view: View, request: Request) -> Response:
    deps, p = view.deps, view.principal
    env = environments.get_environment(deps, p, request.path_params["environment_id"])
    history = deploys.list_deploys(deps, p, environment_id=env.id, limit=20).items
    current = next((d for d in history if d.status is DeployStatus.succeeded), None)
    instance = None
    if env.instance_id:
        try:
            instance = InstancePublic.from_record(instances.get_instance(deps, p, env.instance_id))
        except NotFound:
            instance = None
    return view.render(
        "environment.html",
        env=_env_public(deps, env),
        repo=RepoPublic.model_validate(repos.get_repo(deps, p, env.repo_id)),
        plan=deploys.plan_deploy(deps, p, env.id),
        current=current,
        history=[DeployPublic.model_validate(d) for d in history],
        instance=instance,
    )


async def start_deploy(view: View, request: Request) -> Response:
    ref = _form(request).get("ref") or None
    deploy = deploys.start_deploy(
        view.deps, view.principal, request.path_params["environment_id"], DeployCreate(ref=ref)
    )
    return _redirect(f"/deploys/{deploy.id}")


async def set_env_var(view: View, request: Request) -> Response:
    form = _form(request)
    environment_id = request.path_params["environment_id"]
    if form.get("unset"):
        update = EnvVarsUpdate(unset=[form.get("unset")])
    else:
        update = EnvVarsUpdate(
            set=[
                EnvVarInput(
                    name=form.get("name"), value=form.raw("value"), secret=bool(form.get("secret"))
                )
            ]
        )
    environments.set_env_vars(view.deps, view.principal, environment_id, update)
    return _redirect(f"/environments/{environment_id}#variables")


async def destroy_environment(view: View, request: Request) -> Response:
    deps, p = view.deps, view.principal
    env = environments.get_environment(deps, p, request.path_params["environment_id"])
    typed = _form(request).get("confirm")
    if typed != env.name:
        raise InvalidInput(
            f"type the environment's name, {env.name}, to confirm destroying it",
            code="confirmation_mismatch",
        )
    teardown = deploys.destroy_environment(deps, p, env.id)
    return _redirect(f"/deploys/{teardown.id}")


# --- deploys ------------------------------------------------------------------------------


async def deploys_page(view: View, request: Request) -> Response:
    found = deploys.list_deploys(view.deps, view.principal, limit=50).items
    return view.render("deploys.html", deploys=[DeployPublic.model_validate(d) for d in found])


def _deploy_context(view: View, deploy_id: str) -> dict[str, Any]:
    deps, p = view.deps, view.principal
    deploy: Deploy = deploys.get_deploy(deps, p, deploy_id)
    env = deps.store.find(Environment, p.workspace_id, deploy.environment_id)
    return {
        "deploy": DeployPublic.model_validate(deploy),
        "env": _env_public(deps, env) if env else None,
        "terminal": deploy.status.terminal,
    }


async def deploy_page(view: View, request: Request) -> Response:
    return view.render("deploy.html", **_deploy_context(view, request.path_params["deploy_id"]))


async def deploy_timeline(view: View, request: Request) -> Response:
    """The timeline fragment htmx polls while the deploy runs; once it has ended the
    fragment no longer asks to be polled."""
    return view.render("_timeline.html", **_deploy_context(view, request.path_params["deploy_id"]))


async def cancel_deploy(view: View, request: Request) -> Response:
    deploy = deploys.cancel_deploy(view.deps, view.principal, request.path_params["deploy_id"])
    return _redirect(f"/deploys/{deploy.id}")


# --- instances ------------------------------------------------------------------------------


async def instance_page(view: View, request: Request) -> Response:
    deps, p = view.deps, view.principal
    record = instances.get_instance(deps, p, request.path_params["instance_id"])
    public = InstancePublic.from_record(record)
    seen = record.last_seen_at
    missing = (
        not record.agent_connected or seen is None or utcnow() - seen > HEARTBEAT_MISSING_AFTER
    )
    env = deps.store.find(Environment, p.workspace_id, record.environment_id)
    return view.render(
        "instance.html",
        instance=public,
        env=_env_public(deps, env) if env else None,
        heartbeat_missing=missing,
        history=record.metrics_history,
    )


async def instance_log_form(view: View, request: Request) -> Response:
    """The logs picker, loaded after the page: the container names come from the latest
    metrics, measured now if the agent has not reported any yet."""
    deps, p = view.deps, view.principal
    record = instances.get_instance(deps, p, request.path_params["instance_id"])
    health = (record.metrics or {}).get("container_health") or {}
    if not health and record.agent_connected:
        health = instances.collect_metrics(deps, p, record.id).container_health
    return view.render("_log_form.html", instance_id=record.id, containers=sorted(health))


async def instance_logs(view: View, request: Request) -> Response:
    """The container's latest lines; with `follow`, the fragment asks to be fetched again
    every few seconds (each time one `logs_fetch` to the agent) until it is stopped."""
    container = request.query_params.get("container", "")
    instance_id = request.path_params["instance_id"]
    lines = instances.fetch_logs(view.deps, view.principal, instance_id, container=container)
    return view.render(
        "_logs.html",
        lines=lines,
        container=container,
        instance_id=instance_id,
        follow=request.query_params.get("follow") == "1",
    )


async def instance_metrics(view: View, request: Request) -> Response:
    metrics = instances.collect_metrics(
        view.deps, view.principal, request.path_params["instance_id"]
    )
    return view.render("_metrics.html", metrics=metrics)


async def instance_diagnose(view: View, request: Request) -> Response:
    report = instances.diagnose(view.deps, view.principal, request.path_params["instance_id"])
    return view.render("_result.html", title="Diagnosis", result=report.model_dump())


async def instance_harden(view: View, request: Request) -> Response:
    result = instances.harden(view.deps, view.principal, request.path_params["instance_id"])
    return view.render("_result.html", title="Re-harden", result=result.model_dump())


async def instance_upgrade(view: View, request: Request) -> Response:
    result = instances.upgrade_agent(view.deps, view.principal, request.path_params["instance_id"])
    return view.render("_result.html", title="Agent upgrade", result=result.model_dump())


# --- settings: keys, members, audit ---------------------------------------------------------


def _keys_context(view: View) -> dict[str, Any]:
    deps, p = view.deps, view.principal
    if not p.can(Scope.admin):  # the page says who can manage keys instead
        return {"keys": [], "environments": []}
    return {
        "keys": [ApiKeyPublic.model_validate(k) for k in keys.list_keys(deps, p, limit=100).items],
        "environments": [
            _env_public(deps, e) for e in environments.list_environments(deps, p, limit=100).items
        ],
    }


async def keys_page(view: View, request: Request) -> Response:
    return view.render("keys.html", created=None, **_keys_context(view))


async def create_key(view: View, request: Request) -> Response:
    form = _form(request)
    data = ApiKeyCreate(
        name=form.get("name"),
        scopes=[form.get("scope") or "read"],
        environment_ids=form.getlist("environment_ids"),
    )
    key, plaintext = keys.create_key(view.deps, view.principal, data)
    # Shown in this response only: no redirect, nothing stored, not cached.
    return view.render(
        "keys.html", 201, created={"name": key.name, "key": plaintext}, **_keys_context(view)
    )


async def rotate_key(view: View, request: Request) -> Response:
    key, plaintext = keys.rotate_key(view.deps, view.principal, request.path_params["key_id"])
    return view.render(
        "keys.html", 201, created={"name": key.name, "key": plaintext}, **_keys_context(view)
    )


async def revoke_key(view: View, request: Request) -> Response:
    keys.revoke_key(view.deps, view.principal, request.path_params["key_id"])
    return _redirect("/settings/keys")


async def members_page(view: View, request: Request) -> Response:
    found = members.list_members(view.deps, view.principal, limit=100).items
    return view.render(
        "members.html",
        members=[MemberPublic.model_validate(m) for m in found],
        roles=[r.value for r in Role],
    )


async def invite_member(view: View, request: Request) -> Response:
    form = _form(request)
    members.invite(view.deps, view.principal, form.get("login"), Role(form.get("role")))
    return _redirect("/settings/members")


async def change_member(view: View, request: Request) -> Response:
    form = _form(request)
    login = request.path_params["login"]
    if form.get("action") == "remove":
        members.remove(view.deps, view.principal, login)
    else:
        members.change_role(view.deps, view.principal, login, Role(form.get("role")))
    return _redirect("/settings/members")


async def audit_page(view: View, request: Request) -> Response:
    q = request.query_params
    filters = {name: q.get(name, "").strip() for name in ("action", "actor", "interface")}
    found = audit.list_events(view.deps, view.principal, limit=200).items
    shown = [
        e
        for e in found
        if (not filters["action"] or e.action.startswith(filters["action"]))
        and (not filters["actor"] or filters["actor"] in e.actor)
        and (not filters["interface"] or e.interface.value == filters["interface"])
    ]
    return view.render("audit.html", events=shown, filters=filters)


def _routes() -> list[Route | Mount]:
    get, post = ["GET"], ["POST"]
    return [
        Route("/", page(overview), methods=get),
        Route("/login", page(login_page, public=True), methods=get),
        Route("/login", page(login_with_key, public=True), methods=post),
        Route("/logout", page(logout, public=True), methods=post),
        Route("/workspace", page(switch_workspace), methods=post),
        Route("/settings/github", page(github_page), methods=get),
        Route("/settings/github/claim", page(claim_installation), methods=post),
        Route("/repos", page(repos_page), methods=get),
        Route("/repos", page(connect_repo), methods=post),
        Route("/settings/targets", page(targets_page), methods=get),
        Route("/settings/targets", page(add_target), methods=post),
        Route("/settings/targets/{target_id}/delete", page(delete_target), methods=post),
        Route("/environments/new", page(new_environment), methods=get),
        Route("/environments", page(create_environment), methods=post),
        Route("/environments/{environment_id}", page(environment_page), methods=get),
        Route("/environments/{environment_id}/deploy", page(start_deploy), methods=post),
        Route("/environments/{environment_id}/env-vars", page(set_env_var), methods=post),
        Route("/environments/{environment_id}/destroy", page(destroy_environment), methods=post),
        Route("/deploys", page(deploys_page), methods=get),
        Route("/deploys/{deploy_id}", page(deploy_page), methods=get),
        Route("/deploys/{deploy_id}/timeline", page(deploy_timeline), methods=get),
        Route("/deploys/{deploy_id}/cancel", page(cancel_deploy), methods=post),
        Route("/instances/{instance_id}", page(instance_page), methods=get),
        Route("/instances/{instance_id}/log-form", page(instance_log_form), methods=get),
        Route("/instances/{instance_id}/logs", page(instance_logs), methods=get),
        Route("/instances/{instance_id}/metrics", page(instance_metrics), methods=get),
        Route("/instances/{instance_id}/diagnose", page(instance_diagnose), methods=get),
        Route("/instances/{instance_id}/harden", page(instance_harden), methods=post),
        Route("/instances/{instance_id}/upgrade-agent", page(instance_upgrade), methods=post),
        Route("/settings/keys", page(keys_page), methods=get),
        Route("/settings/keys", page(create_key), methods=post),
        Route("/settings/keys/{key_id}/rotate", page(rotate_key), methods=post),
        Route("/settings/keys/{key_id}/revoke", page(revoke_key), methods=post),
        Route("/settings/members", page(members_page), methods=get),
        Route("/settings/members", page(invite_member), methods=post),
        Route("/settings/members/{login}", page(change_member), methods=post),
        Route("/settings/audit", page(audit_page), methods=get),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]


class _SecurityHeaders:
    """Headers every page carries: no framing, no sniffing, scripts only from here."""

    HEADERS = [
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (
            b"content-security-policy",
            b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            b"frame-ancestors 'none'; form-action 'self'",
        ),
    ]

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + self.HEADERS
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app() -> Starlette:
    app = Starlette(routes=_routes())
    app.add_middleware(_SecurityHeaders)
    return app
