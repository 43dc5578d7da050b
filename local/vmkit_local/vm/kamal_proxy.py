"""A stand-in for kamal-proxy, run as the `kamal-proxy` container on a real guest.

Standard library only: the simulated Actions run copies this file into an image it
builds offline (no registry holds basecamp/kamal-proxy here). It keeps kamal-proxy's
interface where Kamal uses it:
- `kamal-proxy run` serves HTTP on :80 and routes each request by its Host header
  (or the default route) to the target container on the `kamal` network;
- `docker exec kamal-proxy kamal-proxy deploy SERVICE --target=NAME:PORT --host=H
  --health-check-path=/up --deploy-timeout=30s --drain-timeout=30s` asks the running
  proxy to health-check the new target until it answers 2xx, switch the service's
  hosts to it, and wait for requests in flight to the old target to finish; it exits 1
  with kamal-proxy's message when the target never gets healthy.
The routes live in `/var/lib/kamal-proxy/state.json` (a volume), so a restarted proxy
container serves what it served before.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

STATE = Path("/var/lib/kamal-proxy/state.json")
CONTROL = ("127.0.0.1", 8099)  # inside the proxy container only
ANY_HOST = "*"
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "te", "trailer"}


class Routes:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.services: dict[str, dict] = json.loads(STATE.read_text()) if STATE.exists() else {}
        self.in_flight: dict[str, int] = {}

    def target_for(self, host: str) -> str | None:
        with self.lock:
            fallback = None
            for service in self.services.values():
                if host in service["hosts"]:
                    return service["target"]
                if ANY_HOST in service["hosts"]:
                    fallback = service["target"]
            return fallback

    def switch(self, name: str, target: str, hosts: list[str]) -> str | None:
        with self.lock:
            previous = self.services.get(name, {}).get("target")
            self.services[name] = {"target": target, "hosts": hosts or [ANY_HOST]}
            STATE.parent.mkdir(parents=True, exist_ok=True)
            staging = STATE.with_suffix(".tmp")
            staging.write_text(json.dumps(self.services))
            os.replace(staging, STATE)
            return previous

    def track(self, target: str, delta: int) -> None:
        with self.lock:
            self.in_flight[target] = self.in_flight.get(target, 0) + delta

    def busy(self, target: str) -> int:
        with self.lock:
            return self.in_flight.get(target, 0)


def healthy(target: str, path: str, timeout: float) -> bool:
    host, _, port = target.rpartition(":")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection(host, int(port), timeout=5)
            connection.request("GET", path, headers={"User-Agent": "kamal-proxy"})
            if 200 <= connection.getresponse().status < 300:
                return True
        except OSError:
            pass
        time.sleep(1)
    return False


def serve(routes: Routes) -> None:
    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            host = (self.headers.get("Host") or "").rsplit(":", 1)[0].lower()
            target = routes.target_for(host)
            if target is None:
                self._plain(404, f"no service is deployed for {host}\n")
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            headers["X-Forwarded-For"] = self.client_address[0]
            routes.track(target, 1)
            try:
                name, _, port = target.rpartition(":")
                upstream = http.client.HTTPConnection(name, int(port), timeout=30)
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
            except OSError as error:
                self._plain(502, f"target {target} failed: {error}\n")
                return
            finally:
                routes.track(target, -1)
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _forward

        def _plain(self, status: int, text: str) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            print(f"{self.address_string()} {format % args}", flush=True)

    class Control(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            target = request["target"]
            if not healthy(target, request["health_check_path"], request["deploy_timeout"]):
                status, text = (
                    503,
                    (
                        "Error: target failed to become healthy within configured timeout "
                        f"({request['deploy_timeout']:g}s)"
                    ),
                )
            else:
                previous = routes.switch(request["service"], target, request["hosts"])
                deadline = time.monotonic() + request["drain_timeout"]
                while previous and routes.busy(previous) and time.monotonic() < deadline:
                    time.sleep(0.1)
                status, text = 200, f"Deployed {request['service']} to {target}"
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    control = ThreadingHTTPServer(CONTROL, Control)
    threading.Thread(target=control.serve_forever, daemon=True).start()
    print("kamal-proxy (VMKit local stand-in) serving on :80", flush=True)
    ThreadingHTTPServer(("0.0.0.0", 80), Proxy).serve_forever()  # noqa: S104 (the proxy)


def seconds(text: str) -> float:
    return float(text.removesuffix("s"))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kamal-proxy")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run")
    deploy = commands.add_parser("deploy")
    deploy.add_argument("service")
    deploy.add_argument("--target", required=True)
    deploy.add_argument("--host", action="append", default=[])
    deploy.add_argument("--health-check-path", default="/up")
    deploy.add_argument("--deploy-timeout", type=seconds, default=30.0)
    deploy.add_argument("--drain-timeout", type=seconds, default=30.0)
    args = parser.parse_args(argv)
    if args.command == "run":
        serve(Routes())
        return 0
    request = {
        "service": args.service,
        "target": args.target,
        "hosts": args.host,
        "health_check_path": args.health_check_path,
        "deploy_timeout": args.deploy_timeout,
        "drain_timeout": args.drain_timeout,
    }
    connection = http.client.HTTPConnection(
        *CONTROL, timeout=args.deploy_timeout + args.drain_timeout + 30
    )
    connection.request("POST", "/deploy", body=json.dumps(request))
    response = connection.getresponse()
    print(response.read().decode(), file=sys.stdout if response.status == 200 else sys.stderr)
    return 0 if response.status == 200 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
