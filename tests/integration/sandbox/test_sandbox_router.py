"""The app router: Host → DNS → VM → proxy.json → container, with clear errors on the way."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sandbox_helpers import APP_HOST, DeployTarget

from vmkit_local.sandbox import AppRouter, RouterServer
from vmkit_local.sandbox.containers import free_port
from vmkit_local.sandbox.proxy import ensure_proxy, switch_routes


class Upstream:
    """A stand-in container: answers with its name and echoes what it was sent."""

    def __init__(self, name: str):
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._reply(200, upstream.name.encode())

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                echo = {
                    "path": self.path,
                    "body": body.decode(),
                    "host": self.headers["Host"],
                    "x_test": self.headers["X-Test"],
                    "forwarded_for": self.headers["X-Forwarded-For"],
                }
                self._reply(201, json.dumps(echo).encode(), {"X-Upstream": upstream.name})

            def _reply(
                self, status: int, body: bytes, headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.name = name
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def upstreams() -> Iterator[list[Upstream]]:
    servers = [Upstream("blue"), Upstream("green")]
    yield servers
    for server in servers:
        server.close()


def route_to(target: DeployTarget, upstream: Upstream, host: str = APP_HOST) -> None:
    ensure_proxy(target.root)
    switch_routes(target.root, [host], {"container": upstream.name, "port": upstream.port})


def send(router: RouterServer, host: str, method: str = "GET", path: str = "/", **kw: Any):
    url = f"http://127.0.0.1:{router.port}{path}"
    return httpx.request(method, url, headers={"Host": host, **kw.pop("headers", {})}, **kw)


def test_a_request_is_proxied_with_method_body_headers_and_status(
    target: DeployTarget, router: RouterServer, upstreams: list[Upstream]
):
    route_to(target, upstreams[0])

    response = send(
        router,
        f"{APP_HOST}:{router.port}",
        "POST",
        "/things?limit=2",
        content=b'{"name": "x"}',
        headers={"X-Test": "kept"},
    )

    assert response.status_code == 201
    assert response.headers["X-Upstream"] == "blue"
    assert response.json() == {
        "path": "/things?limit=2",
        "body": '{"name": "x"}',
        "host": f"{APP_HOST}:{router.port}",
        "x_test": "kept",
        "forwarded_for": "127.0.0.1",
    }


def test_a_route_switch_is_seen_by_the_next_request(
    target: DeployTarget, router: RouterServer, upstreams: list[Upstream]
):
    blue, green = upstreams
    route_to(target, blue)
    assert send(router, APP_HOST).text == "blue"

    route_to(target, green)

    assert send(router, APP_HOST).text == "green"


def test_a_service_without_a_proxy_host_answers_for_any_host(
    target: DeployTarget, upstreams: list[Upstream]
):
    route_to(target, upstreams[0], host="*")
    records = {"other.localhost": target.ip}
    with RouterServer(AppRouter(records.get, target.fleet.root_for_ip)) as router:
        assert send(router, "other.localhost").text == "blue"


def test_localhost_names_can_stand_for_the_apps_domain(
    target: DeployTarget, upstreams: list[Upstream]
):
    route_to(target, upstreams[1], host="hello-production.vmkit.test")
    records = {"hello-production.vmkit.test": target.ip}
    app = AppRouter(records.get, target.fleet.root_for_ip, apps_domain="vmkit.test")
    with RouterServer(app) as router:
        assert send(router, "hello-production.localhost").text == "green"


def test_an_unknown_host_gets_404_naming_it(target: DeployTarget, router: RouterServer):
    response = send(router, "nobody.localhost")

    assert response.status_code == 404
    assert "No app is deployed at nobody.localhost" in response.text


def test_a_vm_with_no_app_for_the_host_gets_404(target: DeployTarget, router: RouterServer):
    ensure_proxy(target.root)

    response = send(router, APP_HOST)

    assert response.status_code == 404
    assert f"The VM at {target.ip} has no app deployed for {APP_HOST}" in response.text


def test_a_route_to_a_dead_container_gets_502(target: DeployTarget, router: RouterServer):
    ensure_proxy(target.root)
    switch_routes(target.root, [APP_HOST], {"container": "hello-web-gone", "port": free_port()})

    response = send(router, APP_HOST)

    assert response.status_code == 502
    assert "The app container hello-web-gone is not answering" in response.text


def test_a_record_pointing_at_a_vm_that_is_off_gets_502(target: DeployTarget, router: RouterServer):
    target.fleet.power_off("web1")

    response = send(router, APP_HOST)

    assert response.status_code == 502
    assert f"{APP_HOST} points at {target.ip}, where no VM is running" in response.text
