"""`rotate_token`: take a new agent token, keep it for restarts, and reconnect with it.

The control plane makes the new token, accepts both it and the old one at `$connect`
until the agent connects with the new one, and then refuses the old one. The agent
writes the token into `/etc/vmkit/agent.env` (what systemd passes it at start) before
it answers, so a restart at any moment after the answer comes back on the new token;
the reconnect itself happens once the answer is on the wire (`Reply.new_token`).
"""

from __future__ import annotations

import re
from typing import Any

from vmkit_agent.context import HandlerContext, Reply
from vmkit_agent.errors import InvalidParams
from vmkit_agent.handlers.params import required_str

ENV_FILE = "/etc/vmkit/agent.env"
TOKEN_VARIABLE = "VMKIT_AGENT_TOKEN"  # noqa: S105 (a variable's name)
_TOKEN = re.compile(r"vmka_[0-9a-f]{16}_[A-Za-z0-9_-]{20,100}")


def rotate_token(ctx: HandlerContext, params: dict[str, Any]) -> Reply:
    token = required_str(params, "token")
    if not _TOKEN.fullmatch(token):
        raise InvalidParams("token must be an agent token (vmka_…)")
    current = ctx.host.read_text(ENV_FILE) or ""
    kept = [line for line in current.splitlines() if not line.startswith(f"{TOKEN_VARIABLE}=")]
    ctx.host.write_file(
        ENV_FILE, "\n".join([*kept, f"{TOKEN_VARIABLE}={token}"]) + "\n", mode=0o600
    )
    return Reply({"ok": True, "reconnecting": True}, new_token=token)
