"""Hello, VMKit: the app `make demo` deploys.

Standard library only, so the Python buildpack has nothing to install. It answers
`/` with its version (from APP_VERSION, else the VERSION file next to it) so a
redeploy is visible, and `/up` for the health check kamal-proxy runs before it
sends traffic to a new release.
"""

import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

VERSION_FILE = Path(__file__).with_name("VERSION")


def app_version() -> str:
    if os.environ.get("APP_VERSION"):
        return os.environ["APP_VERSION"]
    try:
        return VERSION_FILE.read_text(encoding="utf-8").strip() or "dev"
    except OSError:
        return "dev"


class Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/up":
            self._reply(200, "OK\n")
        elif self.path == "/":
            self._reply(200, f"Hello from VMKit! version {app_version()}\n")
        else:
            self._reply(404, "Not found\n")

    def _reply(self, status: int, text: str) -> None:
        body = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        print(f"{self.address_string()} {format % args}", flush=True)


def make_server(port: int) -> ThreadingHTTPServer:
    return ThreadingHTTPServer(("0.0.0.0", port), Hello)  # noqa: S104 (a container's app)


if __name__ == "__main__":
    server = make_server(int(os.environ.get("PORT", "8080")))
    print(f"Listening on :{server.server_address[1]}", flush=True)
    server.serve_forever()
