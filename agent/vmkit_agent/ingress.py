"""SSH ingress: port 22 only from GitHub's hosted runners and the environment's networks.

`harden` may get `ssh_ingress: {"github_meta_url": …, "allow_from": [cidr]}`. The agent
then reads GitHub's `/meta` itself, allows 22 from its `actions` ranges (where hosted
runners, and so Kamal's SSH, come from) plus `allow_from`, and keeps what it needs to
do it again in `STATE_PATH`. GitHub lists thousands of ranges, more than a frame of the
agent channel carries, which is why the agent asks rather than being told.

Every heartbeat asks `/meta` again with the ETag it has (a 304 costs one small
request) and reloads the rules when the ranges changed, so a runner range GitHub adds
is let in without a deploy. If `/meta` cannot be read, the rules in force stay: a
harden fails before changing anything, a refresh keeps the last good ranges. 80 and
443 stay open to all either way.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from vmkit_agent.errors import InvalidParams
from vmkit_agent.host.base import Host

log = logging.getLogger(__name__)

STATE_PATH = "/var/lib/vmkit-agent/ssh-ingress.json"
META_KEY = "actions"
FETCH_TIMEOUT_S = 10
MAX_META_BYTES = 4 * 1024 * 1024  # GitHub's /meta is ~0.5 MB
_MAX_URL = 2048

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class MetaUnavailable(Exception):
    """GitHub's /meta could not be read or is not the shape GitHub publishes."""


@dataclass(frozen=True)
class IngressSpec:
    github_meta_url: str
    allow_from: tuple[str, ...]


@dataclass(frozen=True)
class Meta:
    ranges: tuple[str, ...]
    etag: str | None


def parse(value: Any) -> IngressSpec | None:
    """The harden parameter, checked; None when absent (22 then follows `ssh_allow_from`)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidParams("ssh_ingress must be an object")
    url = value.get("github_meta_url")
    if (
        not isinstance(url, str)
        or not url.startswith(("https://", "http://"))
        or len(url) > _MAX_URL
    ):
        raise InvalidParams("ssh_ingress.github_meta_url must be an http(s) URL")
    allow = value.get("allow_from", [])
    if not isinstance(allow, list) or not all(isinstance(v, str) for v in allow):
        raise InvalidParams("ssh_ingress.allow_from must be a list of CIDR strings")
    for entry in allow:
        _network(entry, "ssh_ingress.allow_from")
    return IngressSpec(url, tuple(allow))


def fetch(url: str, etag: str | None = None) -> Meta | None:
    """GitHub's runner ranges; None when they are unchanged since `etag` (HTTP 304)."""
    request = urllib.request.Request(  # noqa: S310 (the scheme was checked in parse)
        url,
        headers={
            "Accept": "application/vnd.github+json",
            "User-Agent": "vmkit-agent",
            **({"If-None-Match": etag} if etag else {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_S) as answer:  # noqa: S310
            body = answer.read(MAX_META_BYTES + 1)
            new_etag = answer.headers.get("ETag")
    except urllib.error.HTTPError as error:
        if error.code == 304:
            return None
        raise MetaUnavailable(f"{url} answered HTTP {error.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise MetaUnavailable(f"could not reach {url}: {reason}") from None
    if len(body) > MAX_META_BYTES:
        raise MetaUnavailable(f"{url} sent more than {MAX_META_BYTES} bytes")
    try:
        ranges = json.loads(body)[META_KEY]
    except (ValueError, KeyError, TypeError):
        raise MetaUnavailable(f"{url} did not answer with GitHub's meta ({META_KEY!r})") from None
    if not isinstance(ranges, list) or not all(isinstance(r, str) for r in ranges):
        raise MetaUnavailable(f"{url}'s {META_KEY!r} is not a list of address ranges")
    for entry in ranges:
        try:
            _network(entry, META_KEY)
        except InvalidParams as error:
            raise MetaUnavailable(f"{url}: {error}") from None
    return Meta(tuple(ranges), new_etag)


def networks(ranges: tuple[str, ...], allow_from: tuple[str, ...]) -> list[Network]:
    """Both lists as one, collapsed per family: no overlapping intervals for nft's sets,
    and fewer of them."""
    parsed = [_network(entry, "range") for entry in (*ranges, *allow_from)]
    collapsed: list[Network] = []
    for version in (4, 6):
        collapsed += ipaddress.collapse_addresses(n for n in parsed if n.version == version)  # type: ignore[arg-type]
    return collapsed


def remember(host: Host, spec: IngressSpec, meta: Meta) -> str | None:
    """Keep what a refresh needs: the URL, the extra networks, the ETag and a digest of
    the ranges in force."""
    state = {
        "github_meta_url": spec.github_meta_url,
        "allow_from": list(spec.allow_from),
        "etag": meta.etag,
        "ranges_sha256": _digest(meta.ranges),
        "ranges": len(meta.ranges),
    }
    return host.write_file(STATE_PATH, json.dumps(state, indent=1) + "\n", mode=0o600)


def refresh(host: Host) -> list[str]:
    """On a heartbeat: reload the rules if GitHub's ranges changed; what changed.

    Nothing to do without a harden that set up ingress (no state), or when GitHub
    answers 304. A /meta that cannot be read leaves the rules in force and is logged.
    """
    from vmkit_agent.handlers.harden import render_nftables

    text = host.read_text(STATE_PATH)
    if text is None:
        return []
    try:
        state = json.loads(text)
        spec = IngressSpec(state["github_meta_url"], tuple(state["allow_from"]))
    except (ValueError, KeyError, TypeError):
        log.warning(
            "%s does not parse; SSH ingress is not refreshed until the next harden", STATE_PATH
        )
        return []
    try:
        meta = fetch(spec.github_meta_url, state.get("etag"))
    except MetaUnavailable as error:
        log.warning("kept the SSH rules in force: %s", error)
        return []
    if meta is None:
        return []
    if _digest(meta.ranges) == state.get("ranges_sha256"):
        remember(host, spec, meta)  # a new ETag for the same ranges
        return []
    changes = host.apply_firewall(render_nftables(networks(meta.ranges, spec.allow_from)))
    remember(host, spec, meta)
    log.info("GitHub's runner ranges changed: SSH now allowed from %d ranges", len(meta.ranges))
    return changes


def _digest(ranges: tuple[str, ...]) -> str:
    return hashlib.sha256("\n".join(sorted(ranges)).encode()).hexdigest()


def _network(entry: str, where: str) -> Network:
    try:
        return ipaddress.ip_network(entry.strip(), strict=False)
    except ValueError:
        raise InvalidParams(f"{where} has {entry[:60]!r}, which is not an IP network") from None
