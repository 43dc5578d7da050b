"""`GET /meta`: GitHub's published address ranges, in GitHub's shape.

VMKit's VMs allow SSH only from the `actions` ranges (where GitHub-hosted runners
connect from), so the simulator lists a few real-looking Azure ranges, as GitHub does,
plus the addresses the local runner reaches VMs from (the sandbox's loopback, the
qemu guests' gateway): the local deploy path is then the only one the rules let in.
Answers carry an `ETag` and a matching `If-None-Match` gets 304, as GitHub's do, so an
agent asking on every heartbeat costs one small request. `set_actions_ranges` plays
GitHub publishing new ranges.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response

from ..endpoint import Call, JsonApi

if TYPE_CHECKING:
    from .simulator import GitHubSimulator

# A handful of the ranges GitHub lists for `actions` (Azure's), for the shape's sake.
PUBLISHED_ACTIONS = ("4.148.0.0/16", "13.64.0.0/11", "20.33.0.0/16", "2603:1030:a0a::/48")
# Where the local runner's SSH comes from: the sandbox's loopback, a qemu guest's gateway.
LOCAL_RUNNER = ("127.0.0.1/32", "10.0.2.2/32")


class MetaRanges:
    def __init__(self, actions: Sequence[str] = (*PUBLISHED_ACTIONS, *LOCAL_RUNNER)) -> None:
        self._lock = threading.Lock()
        self._actions = list(actions)

    @property
    def actions(self) -> list[str]:
        with self._lock:
            return list(self._actions)

    def set_actions_ranges(self, ranges: Sequence[str]) -> None:
        with self._lock:
            self._actions = list(ranges)

    def body(self) -> dict[str, Any]:
        return {
            "verifiable_password_authentication": False,
            "ssh_key_fingerprints": {
                "SHA256_ED25519": "+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU",
            },
            "ssh_keys": [
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
            ],
            "hooks": ["192.30.252.0/22", "185.199.108.0/22"],
            "web": ["192.30.252.0/22", "185.199.108.0/22"],
            "api": ["192.30.252.0/22", "185.199.108.0/22"],
            "git": ["192.30.252.0/22", "185.199.108.0/22"],
            "packages": ["140.82.121.33/32"],
            "pages": ["192.30.252.153/32", "192.30.252.154/32"],
            "importer": ["52.23.85.212/32"],
            "actions": self.actions,
            "actions_macos": ["13.105.49.0/31"],
            "dependabot": [],
            "copilot": ["20.85.130.105/32"],
            "domains": {"actions": ["*.actions.githubusercontent.com"]},
        }


def register(api: JsonApi, sim: GitHubSimulator) -> None:
    @api.route("/meta", ["GET"])
    def meta(call: Call) -> Response:
        body = sim.meta.body()
        etag = '"' + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest() + '"'
        if etag in (call.headers.get("if-none-match") or ""):
            return Response(status_code=304, headers={"ETag": etag})
        return JSONResponse(body, headers={"ETag": etag, "Cache-Control": "public, max-age=60"})
