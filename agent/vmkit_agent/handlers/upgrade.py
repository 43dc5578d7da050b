"""`agent_upgrade`: replace the installed agent with a verified build, then restart.

The download goes to a temporary file beside the agent (same filesystem, so the final
rename is atomic), is checked against the expected sha256, and only then takes the
agent's place. Any failure leaves the installed agent untouched. The reply
(`{status: "upgrading"}`) goes out before the restart; the new process registers with
its own version, which is how the server learns the upgrade worked.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from vmkit_agent import handlers
from vmkit_agent.context import HandlerContext, Reply
from vmkit_agent.errors import ChecksumMismatch, DownloadFailed, InvalidParams
from vmkit_agent.handlers.params import required_str
from vmkit_agent.host.base import AGENT_CHECKSUM_PATH, AGENT_PATH
from vmkit_agent.redact import url_without_secrets

MAX_AGENT_BYTES = 64 * 1024 * 1024
DOWNLOAD_TIMEOUT_SECONDS = 60
_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}")
_SHA256 = re.compile(r"[0-9a-f]{64}")

log = logging.getLogger(__name__)


def agent_upgrade(ctx: HandlerContext, params: dict[str, Any]) -> Reply:
    version = required_str(params, "version")
    if not _VERSION.fullmatch(version):
        raise InvalidParams(f"version {version[:80]!r} is not a valid version string")
    url = required_str(params, "download_url")
    if urllib.parse.urlsplit(url).scheme not in ("http", "https") or any(c.isspace() for c in url):
        raise InvalidParams("download_url must be an http:// or https:// URL")
    expected = required_str(params, "checksum_sha256").lower()
    if not _SHA256.fullmatch(expected):
        raise InvalidParams("checksum_sha256 must be 64 hexadecimal characters")

    target = ctx.host.agent_path
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".vmkit-agent-{version}.")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            actual = _download(url, handle)
            handle.flush()
            os.fchmod(handle.fileno(), 0o755)
            os.fsync(handle.fileno())
        if actual != expected:
            raise ChecksumMismatch(
                f"the download from {url_without_secrets(url)} has sha256 {actual}, "
                f"expected {expected}; kept the installed agent {ctx.state.version}"
            )
        handlers.preload_all()
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    ctx.host.write_file(AGENT_CHECKSUM_PATH, f"{expected}  {AGENT_PATH}\n", mode=0o644)
    log.info("installed agent %s (sha256 %s); restarting", version, expected)
    return Reply({"status": "upgrading", "version": version}, restart_agent=True)


def _download(url: str, sink: Any) -> str:
    digest = hashlib.sha256()
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:  # noqa: S310 (scheme checked above)
            while block := response.read(64 * 1024):
                received += len(block)
                if received > MAX_AGENT_BYTES:
                    raise DownloadFailed(
                        f"the download from {url_without_secrets(url)} "
                        f"exceeds {MAX_AGENT_BYTES} bytes; refused"
                    )
                digest.update(block)
                sink.write(block)
    except urllib.error.HTTPError as exc:
        raise DownloadFailed(
            f"downloading {url_without_secrets(url)} failed: HTTP {exc.code}"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        raise DownloadFailed(f"downloading {url_without_secrets(url)} failed: {exc}") from None
    return digest.hexdigest()
