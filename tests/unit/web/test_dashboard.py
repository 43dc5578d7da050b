"""The dashboard over moto: sign-in, CSRF, onboarding pages, roles, secrets shown once."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from tests.support.api import make_world
from vmkit.web import create_app

TOKEN_CANARY = "hz-CANARY-token-5f1e2d"
SECRET_CANARY = "CANARY-db-password-93ab"


@pytest.fixture
def web(aws) -> TestClient:
    return TestClient(create_app(), follow_redirects=False, raise_server_exceptions=False)


def _csrf(page_html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page_html).group(1)


def _sign_in(web: TestClient, key: str) -> None:
    page = web.get("/login")
    resp = web.post("/login", data={"csrf": _csrf(page.text), "api_key": key})
    assert resp.status_code == 303 and resp.headers["location"] == "/", resp.text


@pytest.fixture
def admin(web, tenant) -> TestClient:
    _sign_in(web, tenant.key)
    return web


def _post(web: TestClient, path: str, data: dict, page: str = "/") -> object:
    return web.post(path, data={"csrf": _csrf(web.get(page).text), **data})


def test_pages_need_a_sign_in_and_the_cookie_is_httponly_samesite(web, tenant):
    assert web.get("/").status_code == 303 and web.get("/").headers["location"].startswith("/login")
    page = web.get("/login")
    resp = web.post("/login", data={"csrf": _csrf(page.text), "api_key": tenant.key})
    cookie = resp.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # served over http here; over https it is Secure
    assert tenant.key not in web.get("/").text  # the credential never reaches the page
    # sign out: the cookie goes, pages need a sign-in again
    resp = _post(web, "/logout", {})
    assert resp.status_code == 303 and web.get("/").status_code == 303


def test_the_cookie_is_secure_over_https(aws, tenant):
    web = TestClient(create_app(), base_url="https://dash.vmkit.test", follow_redirects=False)
    page = web.get("/login")
    resp = web.post("/login", data={"csrf": _csrf(page.text), "api_key": tenant.key})
    assert "Secure" in resp.headers["set-cookie"]


def test_a_bad_key_is_refused_with_the_apis_message(web):
    page = web.get("/login")
    resp = web.post("/login", data={"csrf": _csrf(page.text), "api_key": "vmk_nope"})
    assert resp.status_code == 401
    assert "the API key is missing, malformed, revoked or unknown" in resp.text


def test_a_form_post_without_the_csrf_token_is_refused_and_changes_nothing(admin):
    resp = admin.post(
        "/settings/targets", data={"name": "x", "provider": "hetzner", "token": TOKEN_CANARY}
    )
    assert resp.status_code == 403 and "csrf_failed" in resp.text
    forged = admin.post(
        "/settings/targets",
        data={"csrf": "forged", "name": "x", "provider": "hetzner", "token": TOKEN_CANARY},
    )
    assert forged.status_code == 403
    assert "hz-CANARY" not in admin.get("/settings/targets").text
    assert "No compute target yet" in admin.get("/settings/targets").text
    # the sign-in form is protected too (a double-submit token)
    fresh = TestClient(create_app(), follow_redirects=False)
    assert fresh.post("/login", data={"api_key": "vmk_x"}).status_code == 403


def test_onboarding_target_repo_environment_plan(admin, tenant, clouds):
    # Given a signed-in admin, When they add a Hetzner target with its token
    resp = _post(
        admin,
        "/settings/targets",
        {"name": "hetzner main", "provider": "hetzner", "token": TOKEN_CANARY},
        "/settings/targets",
    )
    assert resp.status_code == 303, resp.text
    # Then the token is shown masked, never in full
    targets = admin.get("/settings/targets").text
    assert "••••••••" + TOKEN_CANARY[-4:] in targets and TOKEN_CANARY not in targets
    # When they connect a repo from the App's installation and create an environment
    github = admin.get("/settings/github").text
    assert "acme" in github and "GITHUB_APP_SLUG" in github  # no App slug in this test
    resp = _post(
        admin,
        "/repos",
        {"full_name": "acme/invoicer", "installation_id": "7"},
        "/settings/github",
    )
    assert resp.status_code == 303, resp.text
    new = admin.get(resp.headers["location"]).text
    assert "$4.50/month" in new or "/month" in new  # sizes carry the catalog's prices
    target_id = re.search(r'option value="(tgt_[^"]+)"', new).group(1)
    repo_id = re.search(r'option value="(repo_[^"]+)"', new).group(1)
    resp = _post(
        admin,
        "/environments",
        {
            "repo_id": repo_id,
            "name": "production",
            "compute_target_id": target_id,
            f"server_type.{target_id}": "cax21",
            f"region.{target_id}": "hel1",
        },
        "/environments/new",
    )
    assert resp.status_code == 303, resp.text
    env_page = admin.get(resp.headers["location"])
    # Then the environment page shows the plan before any deploy, with the monthly price
    assert "Deploy plan" in env_page.text and "cax21" in env_page.text
    assert 'data-testid="monthly-cost">$' in env_page.text
    assert 'data-testid="deploy"' in env_page.text and 'data-testid="destroy"' in env_page.text


def test_a_secret_env_var_is_never_shown_again(admin, tenant):
    world = make_world(tenant)
    page = f"/environments/{world.environment_id}"
    resp = _post(
        admin,
        f"{page}/env-vars",
        {"name": "DATABASE_URL", "value": SECRET_CANARY, "secret": "1"},
        page,
    )
    assert resp.status_code == 303, resp.text
    html = admin.get(page).text
    assert "DATABASE_URL" in html and "never shown" in html and SECRET_CANARY not in html
    for path in ("/", "/settings/audit", "/deploys", "/settings/keys"):
        assert SECRET_CANARY not in admin.get(path).text


def test_destroy_needs_the_typed_name(admin, tenant):
    world = make_world(tenant)
    page = f"/environments/{world.environment_id}"
    resp = _post(admin, f"{page}/destroy", {"confirm": "prod"}, page)
    assert resp.status_code == 422 and "type the environment&#39;s name, production" in resp.text


def test_a_new_key_is_shown_once_then_only_its_hint(admin):
    resp = _post(admin, "/settings/keys", {"name": "ci", "scope": "deploy"}, "/settings/keys")
    assert resp.status_code == 201 and resp.headers["cache-control"] == "no-store"
    key = re.search(r'value="(vmk_[0-9a-f]{16}_[A-Za-z0-9_-]{43})"', resp.text).group(1)
    later = admin.get("/settings/keys").text
    assert key not in later and key[:20] in later  # the hint: its visible prefix


def test_a_viewer_sees_no_mutating_control_and_is_refused_anyway(web, tenant):
    world = make_world(tenant)
    read_key = tenant.client.post("/api/keys", json={"name": "ro", "scopes": ["read"]}).json()
    _sign_in(web, read_key["key"])
    page = f"/environments/{world.environment_id}"
    html = web.get(page).text
    assert 'method="post"' not in html.replace('action="/logout"', "").split("</header>")[1]
    for path in ("/settings/targets", "/settings/members", "/settings/keys", "/settings/github"):
        body = web.get(path).text.split("</header>")[1]
        assert 'method="post"' not in body, path
    resp = _post(web, f"{page}/deploy", {}, page)
    assert resp.status_code == 403 and "this needs the &#39;deploy&#39; scope" in resp.text


def test_members_page_invites_and_shows_roles(admin):
    resp = _post(
        admin, "/settings/members", {"login": "dana", "role": "deployer"}, "/settings/members"
    )
    assert resp.status_code == 303, resp.text
    html = admin.get("/settings/members").text
    assert "dana" in html and "invited: joins at their next sign-in" in html


def test_every_page_sends_security_headers(admin):
    resp = admin.get("/")
    assert resp.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in resp.headers["content-security-policy"]


def test_the_rest_function_does_not_load_the_dashboard():
    code = (
        "import sys, vmkit.rest; vmkit.rest.create_app();"
        "print(sorted(m for m in sys.modules if m.startswith(('jinja2', 'vmkit.web'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_vendored_htmx_is_the_npm_package(tmp_path):
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    vendored = root / "layers/vmkit/vmkit/web/static/htmx.min.js"
    assert (
        vendored.read_bytes()
        == (root / "tools/node_modules/htmx.org/dist/htmx.min.js").read_bytes()
    )


def test_an_instance_keeps_the_last_48_metric_samples():
    from datetime import UTC, datetime, timedelta

    from vmkit.models import METRICS_HISTORY_SAMPLES, Instance, Provider

    instance = Instance(
        id="ins_1",
        workspace_id="ws_1",
        environment_id="env_1",
        compute_target_id="tgt_1",
        provider=Provider.local,
        server_type="local",
        region="local",
    )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(METRICS_HISTORY_SAMPLES + 5):
        metrics = {"cpu_pct": i, "mem_pct": 50.5, "disk_pct": "unreadable"}
        instance.metrics_history = instance.history_with(metrics, start + timedelta(minutes=i))
    assert len(instance.metrics_history) == METRICS_HISTORY_SAMPLES
    assert instance.metrics_history[0]["cpu_pct"] == 5.0  # the oldest five dropped
    assert instance.metrics_history[-1]["disk_pct"] is None  # not a number: no point


def _seeded(deps, tenant):
    from tests.support.api import seed_runtime

    world = make_world(tenant)
    instance_id, deploy_id = seed_runtime(deps, tenant.workspace_id, world)
    return world, instance_id, deploy_id


def test_missing_heartbeats_are_a_warning_on_the_vm_page(admin, deps, tenant):
    from datetime import timedelta

    from vmkit.models import Instance, utcnow

    _, instance_id, _ = _seeded(deps, tenant)
    instance = deps.store.get(Instance, tenant.workspace_id, instance_id)
    deps.store.set_fields(
        instance,
        agent_connected=True,
        agent_version="0.1.0",
        last_seen_at=utcnow() - timedelta(minutes=25),
        metrics_history=[
            {"at": "2026-01-01T00:00:00+00:00", "cpu_pct": 10.0, "mem_pct": 40.0, "disk_pct": 20.0},
            {"at": "2026-01-01T00:04:00+00:00", "cpu_pct": 30.0, "mem_pct": 41.0, "disk_pct": 20.0},
        ],
    )
    html = admin.get(f"/instances/{instance_id}").text
    assert 'data-testid="heartbeat-warning"' in html and "Heartbeats are missing" in html
    assert "25 min ago" in html and "0.1.0" in html
    assert "<polyline" in html and "last 2 heartbeats" in html  # the chart of recent samples
    deps.store.set_fields(instance, last_seen_at=utcnow())
    assert 'data-testid="heartbeat-warning"' not in admin.get(f"/instances/{instance_id}").text


def test_the_timeline_polls_until_the_deploy_ends(admin, deps, tenant):
    from vmkit.models import Deploy, DeployFailure, DeployStatus

    _, _, deploy_id = _seeded(deps, tenant)
    fragment = admin.get(f"/deploys/{deploy_id}/timeline", headers={"HX-Request": "true"}).text
    assert 'hx-trigger="every 1s"' in fragment
    deploy = deps.store.get(Deploy, tenant.workspace_id, deploy_id)
    deploy.transition(DeployStatus.failed)
    deploy.failure = DeployFailure(step="DispatchWorkflow", reason="see http://gh.test/runs/1")
    deps.store.save(deploy)
    fragment = admin.get(f"/deploys/{deploy_id}/timeline", headers={"HX-Request": "true"}).text
    assert "hx-trigger" not in fragment.split("App logs")[0]
    assert 'Failed at DispatchWorkflow:</strong> see <a href="http://gh.test/runs/1">' in fragment


def test_an_htmx_error_is_a_fragment_with_the_apis_message(admin, deps, tenant):
    _, instance_id, _ = _seeded(deps, tenant)
    resp = admin.get(f"/instances/{instance_id}/diagnose", headers={"HX-Request": "true"})
    assert resp.status_code >= 400 and "<html" not in resp.text
    assert 'role="alert"' in resp.text and "Error code" in resp.text


def test_keys_rotate_and_revoke(admin):
    created = _post(admin, "/settings/keys", {"name": "ci", "scope": "read"}, "/settings/keys")
    key_id = re.search(r"vmk_([0-9a-f]{16})_", created.text).group(1)
    rotated = _post(admin, f"/settings/keys/{key_id}/rotate", {}, "/settings/keys")
    assert rotated.status_code == 201 and "shown only this once" in rotated.text
    new_id = re.search(r'value="vmk_([0-9a-f]{16})_', rotated.text).group(1)
    assert new_id != key_id
    assert _post(admin, f"/settings/keys/{new_id}/revoke", {}, "/settings/keys").status_code == 303
    assert admin.get("/settings/keys").text.count("revoked") == 2


def test_the_audit_log_filters(admin, tenant):
    make_world(tenant)
    every = admin.get("/settings/audit").text
    assert "environment.create" in every and "compute_target.create" in every
    only = admin.get("/settings/audit", params={"action": "environment."}).text
    assert "environment.create" in only and "compute_target.create" not in only
    assert "No events match" in admin.get("/settings/audit", params={"interface": "mcp"}).text


def test_after_a_key_sign_in_the_page_asked_for_opens_never_another_site(web, tenant):
    asked = web.get("/settings/keys")
    assert asked.headers["location"] == "/login?next=/settings/keys"
    page = web.get(asked.headers["location"])
    resp = web.post(
        "/login", data={"csrf": _csrf(page.text), "api_key": tenant.key, "next": "/settings/keys"}
    )
    assert resp.headers["location"] == "/settings/keys"
    for evil in ("//evil.test/x", "https://evil.test/", "/\\evil.test"):
        web.cookies.clear()
        page = web.get("/login")
        resp = web.post(
            "/login", data={"csrf": _csrf(page.text), "api_key": tenant.key, "next": evil}
        )
        assert resp.headers["location"] == "/"


def test_a_person_in_two_workspaces_switches_between_them(web, app, deps):
    from vmkit.services import workspaces
    from vmkit.services.workspaces import GitHubIdentity

    _, own, _ = workspaces.login(deps, GitHubIdentity(id=11, login="olivia"))
    _, team, bob = workspaces.login(deps, GitHubIdentity(id=12, login="bob"))
    bobs = TestClient(app, raise_server_exceptions=False)
    bobs.cookies.set("vmkit_session", bob)
    assert bobs.post("/api/members", json={"login": "olivia", "role": "viewer"}).status_code == 201
    # Olivia's next sign-in lands in the team she was invited to, as a viewer
    _, landed, token = workspaces.login(deps, GitHubIdentity(id=11, login="olivia"))
    assert landed.id == team.id
    web.cookies.set("vmkit_session", token)
    html = web.get("/").text
    assert "olivia · viewer" in html and f'value="{own.id}"' in html
    # and switches to her own workspace, where she is the owner
    resp = web.post("/workspace", data={"csrf": _csrf(html), "workspace_id": own.id})
    assert resp.status_code == 303
    web.cookies.set("vmkit_session", resp.cookies["vmkit_session"])
    assert "olivia · owner" in web.get("/").text
    # a workspace she is not in is refused, whatever its id
    html = web.get("/").text
    other = workspaces.bootstrap_workspace(deps, "elsewhere")[0]
    resp = web.post("/workspace", data={"csrf": _csrf(html), "workspace_id": other.id})
    assert resp.status_code == 403 and "not a member of workspace" in resp.text


def test_following_logs_polls_until_stopped(admin, deps, tenant, monkeypatch):
    from vmkit.schemas import LogLine
    from vmkit.services import instances

    _, instance_id, _ = _seeded(deps, tenant)
    monkeypatch.setattr(
        instances,
        "fetch_logs",
        lambda deps, principal, iid, container, lines=100: [LogLine(ts="t1", text="<started>")],
    )
    url = f"/instances/{instance_id}/logs"
    followed = admin.get(url, params={"container": "web 1", "follow": "1"}).text
    assert 'hx-trigger="every 3s"' in followed and "container=web%201&amp;follow=1" in followed
    assert "&lt;started&gt;" in followed  # the app's output is text, never markup
    once = admin.get(url, params={"container": "web 1"}).text
    assert "hx-trigger" not in once and "t1 &lt;started&gt;" in once


@pytest.mark.parametrize("scope", ["read", "deploy", "admin"])
def test_every_page_works_for_every_role(web, deps, tenant, scope):
    world, instance_id, deploy_id = _seeded(deps, tenant)
    key = tenant.client.post("/api/keys", json={"name": scope, "scopes": [scope]}).json()["key"]
    _sign_in(web, key)
    pages = [
        "/",
        "/repos",
        "/deploys",
        "/settings/github",
        "/settings/targets",
        "/settings/keys",
        "/settings/members",
        "/settings/audit",
        "/environments/new",
        f"/environments/{world.environment_id}",
        f"/deploys/{deploy_id}",
        f"/instances/{instance_id}",
    ]
    for path in pages:
        resp = web.get(path)
        assert resp.status_code == 200, (path, resp.text[-600:])
        body = resp.text.split("</header>")[1]
        forms = re.findall(r'<form[^>]*method="post"[^>]*action="([^"]+)"|hx-post="([^"]+)"', body)
        actions = [a or b for a, b in forms]
        if scope == "read":
            assert actions == [], (path, actions)
        if scope == "deploy":  # deploys and operates, but manages nothing
            managing = [
                a
                for a in actions
                if a.startswith("/settings/")
                or a in ("/repos", "/environments")
                or a.endswith("/destroy")
            ]
            assert managing == [], (path, managing)
