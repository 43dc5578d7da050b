"""The real-VM target's pieces that run without a guest: fast, part of `make test`.

What reaches qemu (the network it is given, the kernel command line), the relay qemu
runs per guest connection, the stand-in kamal-proxy's routing, the image recipe's
cache key, the offline image's build context, and the app router's way to a guest.
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from vmkit_local.sandbox.actions_log import ActionsLog
from vmkit_local.sandbox.buildpacks import build_image
from vmkit_local.sandbox.router import AppRouter, RouterServer
from vmkit_local.vm import appimage, kamal_proxy
from vmkit_local.vm.image import PACKAGES, ImageRecipe
from vmkit_local.vm.network import Forwards, port_of

RELAY = Path(appimage.__file__).with_name("relay.py")
SAMPLE_APP = Path(__file__).resolve().parents[3] / "examples" / "hello"


def test_the_guest_network_reaches_only_the_given_stack_ports():
    forwards = Forwards({41000: 42000, 41001: 42001}, ssh=43000, http=43001)
    netdev = forwards.netdev()
    options = netdev.split(",")
    assert options[:2] == ["user", "id=n0"] and "restrict=on" in options
    guestfwd = [o for o in options if o.startswith("guestfwd=")]
    # One per stack port, each to the host's loopback through a per-connection relay.
    assert [o.split("-cmd:")[0] for o in guestfwd] == [
        "guestfwd=tcp:10.0.2.100:41000",
        "guestfwd=tcp:10.0.2.100:41001",
    ]
    assert all(o.endswith((f"{RELAY} 42000", f"{RELAY} 42001")) for o in guestfwd)
    assert "hostfwd=tcp:127.0.0.1:43000-:22" in options
    assert "hostfwd=tcp:127.0.0.1:43001-:80" in options
    assert forwards.kernel_argument() == "vmkit.loopback_ports=41000,41001"
    assert Forwards.from_json(json.loads(json.dumps(forwards.to_json()))) == forwards


def test_only_loopback_urls_can_be_handed_to_a_guest():
    assert port_of("ws://127.0.0.1:4567/agents") == 4567
    with pytest.raises(ValueError, match="not on the host's loopback"):
        port_of("https://s3.amazonaws.com/bucket/agent")


def test_the_relay_joins_a_connection_to_a_stack_port_both_ways():
    received: list[bytes] = []
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def serve_one() -> None:
            connection, _ = server.accept()
            with connection:
                received.append(connection.recv(100))
                connection.sendall(b"pong")

        threading.Thread(target=serve_one, daemon=True).start()
        guest, qemu_side = socket.socketpair()
        with guest, qemu_side:
            relay = subprocess.Popen(
                [sys.executable, "-I", str(RELAY), str(port)], stdin=qemu_side, stdout=qemu_side
            )
            guest.sendall(b"ping")
            guest.shutdown(socket.SHUT_WR)
            assert guest.recv(100) == b"pong"
            assert relay.wait(timeout=10) == 0
    assert received == [b"ping"]


def test_the_image_is_rebuilt_only_when_its_recipe_changes():
    assert ImageRecipe().digest() == ImageRecipe().digest()
    assert ImageRecipe(packages=(*PACKAGES, "htop")).digest() != ImageRecipe().digest()
    assert ImageRecipe(builder_version=99).digest() != ImageRecipe().digest()
    assert {"cloud-init", "openssh-server", "nftables", "docker.io", "python3"} <= set(PACKAGES)


def test_the_stand_in_proxy_routes_by_host_and_keeps_routes_across_restarts(tmp_path, monkeypatch):
    monkeypatch.setattr(kamal_proxy, "STATE", tmp_path / "state.json")
    routes = kamal_proxy.Routes()
    assert routes.target_for("app.localhost") is None
    assert routes.switch("app-web", "app-web-1:8080", ["app.localhost"]) is None
    assert routes.switch("other-web", "other-web-1:3000", []) is None  # no host: any host
    assert routes.target_for("app.localhost") == "app-web-1:8080"
    assert routes.target_for("unknown.localhost") == "other-web-1:3000"
    assert routes.switch("app-web", "app-web-2:8080", ["app.localhost"]) == "app-web-1:8080"
    assert kamal_proxy.Routes().target_for("app.localhost") == "app-web-2:8080"


def test_the_stand_in_proxy_health_check_waits_for_a_2xx():
    class Up(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/up" else 503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Up)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        target = f"127.0.0.1:{server.server_address[1]}"
        assert kamal_proxy.healthy(target, "/up", timeout=5)
        assert not kamal_proxy.healthy(target, "/broken", timeout=1.5)
    finally:
        server.shutdown()


def test_the_release_image_is_a_build_context_on_the_cached_base(tmp_path):
    built = build_image(
        SAMPLE_APP, "ghcr.io/acme/hello", "abc123", tmp_path / "out", ActionsLog([])
    )
    base = appimage.BaseLayer("vmkit-local/debian-python:0123", tmp_path / "base.tar")
    image = appimage.app_image(built, tmp_path, {"service": "hello"}, base=base)
    assert image.reference == "ghcr.io/acme/hello:abc123"
    with tarfile.open(image.context) as context:
        names = context.getnames()
        dockerfile = context.extractfile("Dockerfile").read().decode()
        assert {m.uid for m in context.getmembers()} == {0}
    assert "workspace/app.py" in names and not any(".git" in n for n in names)
    lines = dockerfile.splitlines()
    assert lines[0] == "FROM vmkit-local/debian-python:0123"
    assert 'CMD ["/bin/sh", "-c", "python app.py"]' in lines
    assert any(line.startswith("LABEL service=") for line in lines)
    assert image.build_command().endswith("docker build --quiet --tag ghcr.io/acme/hello:abc123 -")


def test_the_app_router_sends_a_guests_requests_to_its_forwarded_port():
    class Guest(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"guest saw Host {self.headers['Host']}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    guest = ThreadingHTTPServer(("127.0.0.1", 0), Guest)
    threading.Thread(target=guest.serve_forever, daemon=True).start()
    port = guest.server_address[1]
    router = AppRouter(
        lambda host: "198.51.100.7" if host == "app.localhost" else None,
        lambda ip: None,  # no sandbox VM has it
        guest_port_for_ip=lambda ip: port if ip == "198.51.100.7" else None,
    )
    try:
        with RouterServer(router) as server:
            answer = httpx.get(
                f"http://127.0.0.1:{server.port}/", headers={"Host": f"app.localhost:{server.port}"}
            )
            assert answer.status_code == 200
            assert answer.text == f"guest saw Host app.localhost:{server.port}"
    finally:
        guest.shutdown()


def test_the_base_layer_gets_python_on_its_path_once(tmp_path):
    """Procfiles say `python`; docker import refuses a tarball naming a path twice."""

    def tarball(name: str, *members: str) -> Path:
        path = tmp_path / name
        with tarfile.open(path, "w") as tar:
            for member in members:
                data = b"#!/bin/sh\n"
                info = tarfile.TarInfo(member)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return path

    added = appimage.rewrite_base(tarball("a.tar", "./bin/sh"), tmp_path / "a-out.tar")
    assert added == ["./bin/sh", "./usr/local/bin/python"]
    with tarfile.open(tmp_path / "a-out.tar") as tar:
        assert tar.getmember("./usr/local/bin/python").linkname == "/usr/bin/python3"
    kept = appimage.rewrite_base(
        tarball("b.tar", "./bin/sh", "./usr/local/bin/python"), tmp_path / "b-out.tar"
    )
    assert kept == ["./bin/sh", "./usr/local/bin/python"]


class _Launches:
    """Stands in for qemu at the process boundary: records launches, fakes live pids."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, alive: set[int]):
        from vmkit_local.vm import fleet as fleet_module

        self.launched: list[tuple[str, Forwards]] = []
        self.terminated: list[int] = []
        monkeypatch.setattr(fleet_module.qemu, "launch", self._launch)
        monkeypatch.setattr(fleet_module.qemu, "process_alive", lambda pid, disk: pid in alive)
        monkeypatch.setattr(fleet_module.qemu, "terminate", self.terminated.append)

    def _launch(self, image, files, forwards, *, memory_mb, cpus):
        self.launched.append((files.directory.name, forwards))
        return 4242


def _recorded_guest(data_dir: Path, server_id: str, forwards: Forwards, pid: int) -> None:
    directory = data_dir / "guests" / server_id
    directory.mkdir(parents=True)
    record = {
        "name": f"g{server_id}",
        "ip": "198.51.100.9",
        "labels": {},
        "power": "running",
        "created_at": "2026-12-03T00:00:00Z",
        "exposed": {"aws": 41000, "ws": 41001},  # the ports its user data names
        "forwards": forwards.to_json(),
    }
    (directory / "guest.json").write_text(json.dumps(record))
    (directory / "qemu.pid").write_text(str(pid))


def test_a_restarted_stack_adopts_a_live_guest_only_if_its_ports_still_lead_to_the_stack(
    tmp_path, monkeypatch
):
    from vmkit_local.vm.fleet import GuestFleet

    same = Forwards({41000: 51000, 41001: 51001}, ssh=52000, http=52001)
    stale = Forwards({41000: 41000, 41001: 41001}, ssh=52002, http=52003)
    _recorded_guest(tmp_path, "1001", same, pid=111)  # alive, forwards match the stack
    _recorded_guest(tmp_path, "1002", stale, pid=222)  # alive, forwards to old ports
    _recorded_guest(tmp_path, "1003", stale, pid=333)  # its qemu died with the old stack
    launches = _Launches(monkeypatch, alive={111, 222})
    fleet = GuestFleet(tmp_path)
    fleet._image = object()  # no image build: qemu is faked
    fleet.expose({"aws": 51000, "ws": 51001})
    fleet.resume()
    assert launches.terminated == [222]
    assert sorted(server for server, _ in launches.launched) == ["1002", "1003"]
    # The guests keep dialling the ports they were given; those now lead to the new stack.
    for _, forwards in launches.launched:
        assert dict(forwards.loopback) == {41000: 51000, 41001: 51001}
    assert fleet.guest("1003").forwards.loopback == {41000: 51000, 41001: 51001}


@pytest.mark.parametrize(
    ("stack_vm", "labels", "machine"),
    [
        (False, {}, "sandbox"),
        (False, {"vmkit.dev/local-machine": "vm"}, "guest"),
        (True, {}, "guest"),
        (True, {"vmkit.dev/local-machine": "sandbox"}, "sandbox"),
    ],
)
def test_a_server_boots_where_its_target_or_the_stack_says(tmp_path, stack_vm, labels, machine):
    from vmkit_local.embedded import CloudStandIns

    cloud = CloudStandIns(tmp_path, "127.0.0.1", 0.02, vm=stack_vm)
    booted: list[str] = []
    cloud.guests.boot = lambda *args: booted.append("guest") or "198.51.100.2"
    cloud.fleet.boot = lambda *args: booted.append("sandbox") or "203.0.113.2"
    try:
        cloud._boot(1001, "app-production-x", "#cloud-config\n", labels)
    finally:
        cloud.github.close()
    assert booted == [machine]
