"""`harden`: make the VM ready for Kamal and closed to everything else.

- a `kamal` user in the `docker` group, whose only way in is the deploy key;
- sshd: no root login, no passwords;
- inbound firewall: 80 and 443 from anywhere, 22 only from `ssh_allow_from`, or, with
  `ssh_ingress`, from GitHub's hosted runners plus its `allow_from` (`vmkit_agent.ingress`).

Running it again changes nothing and says so: `changes` lists only what this run did.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from typing import Any

from vmkit_agent.context import HandlerContext
from vmkit_agent.errors import HostError, InvalidParams
from vmkit_agent.handlers.params import required_str

DEPLOY_USER = "kamal"
DEPLOY_GROUPS = ("docker",)
SSHD_DROPIN_PATH = "/etc/ssh/sshd_config.d/50-vmkit.conf"
SSHD_DROPIN = """\
# Written by vmkit-agent (harden); changes here are overwritten.
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
"""
_KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
_COMMENT = re.compile(r"[\x20-\x7e]{0,200}")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_SUMMARY_MAX = 8  # networks named in the ruleset's comment line


def harden(ctx: HandlerContext, params: dict[str, Any]) -> dict[str, Any]:
    from vmkit_agent import ingress

    key = deploy_key(required_str(params, "deploy_public_key"))
    rotating = params.get("rotating_public_key")
    keys = [key] + ([deploy_key(rotating)] if rotating is not None else [])
    ssh_from = ssh_sources(params.get("ssh_allow_from"))
    spec = ingress.parse(params.get("ssh_ingress"))
    meta = None
    if spec is not None:  # GitHub's runners and the environment's networks, read first:
        try:  # if GitHub cannot be asked, nothing changes
            meta = ingress.fetch(spec.github_meta_url)
        except ingress.MetaUnavailable as error:
            raise HostError(
                f"could not read GitHub's runner addresses ({error}); nothing was changed",
                code="meta_unavailable",
            ) from None
        assert meta is not None  # no ETag was sent, so no 304
        ssh_from = ingress.networks(meta.ranges, spec.allow_from)
    host = ctx.host
    home = f"/home/{DEPLOY_USER}"
    changes = host.ensure_user(DEPLOY_USER, groups=DEPLOY_GROUPS)
    changes += _changed(
        host.ensure_dir(f"{home}/.ssh", mode=0o700, owner=DEPLOY_USER),
        host.write_file(
            f"{home}/.ssh/authorized_keys",
            "# Written by vmkit-agent (harden): the VMKit deploy key"
            + (" and the one being rotated in" if len(keys) > 1 else "")
            + ".\n"
            + "".join(f"{k}\n" for k in keys),
            mode=0o600,
            owner=DEPLOY_USER,
        ),
    )
    changes += host.apply_sshd_dropin(SSHD_DROPIN_PATH, SSHD_DROPIN)
    changes += host.apply_firewall(render_nftables(ssh_from))
    if spec is not None and meta is not None:
        changes += _changed(ingress.remember(ctx.host, spec, meta))
    return {"ok": True, "changes": changes}


def deploy_key(text: str) -> str:
    """One OpenSSH public key line, checked so nothing else can ride into
    authorized_keys (a second line, options such as command=…, a bad blob)."""
    parts = text.split(" ", 2)
    if "\n" in text or "\r" in text or len(parts) < 2:
        raise InvalidParams(
            "deploy_public_key must be one OpenSSH public key line: '<type> <base64> [comment]'"
        )
    kind, blob = parts[0], parts[1]
    if kind not in _KEY_TYPES:
        raise InvalidParams(f"deploy_public_key has unsupported key type {kind[:40]!r}")
    try:
        raw = base64.b64decode(blob, validate=True)
    except ValueError:
        raise InvalidParams("deploy_public_key's key data is not valid base64") from None
    # The blob starts with its own type as a length-prefixed string.
    length = int.from_bytes(raw[:4], "big")
    if raw[4 : 4 + length] != kind.encode():
        raise InvalidParams(f"deploy_public_key's key data does not hold a {kind} key")
    comment = parts[2] if len(parts) == 3 else ""
    if not _COMMENT.fullmatch(comment):
        raise InvalidParams(
            "deploy_public_key's comment must be printable ASCII, at most 200 characters"
        )
    return " ".join(p for p in (kind, blob, comment) if p)


def ssh_sources(value: Any) -> list[Network] | None:
    """None (parameter absent) leaves 22 open to all, key-only; a list, even empty,
    allows 22 from exactly those networks."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidParams("ssh_allow_from must be a list of CIDR strings")
    networks = []
    for entry in value:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise InvalidParams(
                f"ssh_allow_from has {entry!r}, which is not an IP network"
            ) from None
    return networks


def render_nftables(ssh_from: list[Network] | None) -> str:
    """Our own `inet vmkit` table, replaced atomically on every load (declare, delete,
    define). Docker's published ports go through forwarding, not this input chain."""
    if ssh_from is None:
        ssh_rules = ["\t\ttcp dport 22 accept"]
        summary = "22 from anywhere (keys only)"
    else:
        ssh_rules = [
            f"\t\t{family} saddr {{ {', '.join(str(n) for n in nets)} }} tcp dport 22 accept"
            for family, nets in (
                ("ip", [n for n in ssh_from if n.version == 4]),
                ("ip6", [n for n in ssh_from if n.version == 6]),
            )
            if nets
        ]
        summary = (
            f"22 from {', '.join(str(n) for n in ssh_from) or 'nowhere'}"
            if len(ssh_from) <= _SUMMARY_MAX
            else f"22 from {len(ssh_from)} networks (GitHub's runners and ssh_allow_from)"
        )
    lines = [
        f"# Written by vmkit-agent (harden): inbound 80 and 443 from anywhere, {summary}.",
        "table inet vmkit",
        "delete table inet vmkit",
        "table inet vmkit {",
        "\tchain input {",
        "\t\ttype filter hook input priority filter; policy drop;",
        "\t\tct state established,related accept",
        "\t\tct state invalid drop",
        '\t\tiif "lo" accept',
        "\t\tmeta l4proto { icmp, ipv6-icmp } accept",
        '\t\tudp dport { 68, 546 } accept comment "DHCP replies: the VM\'s address is leased"',
        "\t\ttcp dport { 80, 443 } accept",
        *ssh_rules,
        "\t}",
        "}",
    ]
    return "\n".join(lines) + "\n"


def _changed(*changes: str | None) -> list[str]:
    return [c for c in changes if c]
