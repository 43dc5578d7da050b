"""Environment host names: `{repo-slug}-{env-slug}.{apps domain}`.

The DNS step creates the name and the generated Kamal config serves it (`proxy.host`),
so both call `app_hostname`. It lives outside `vmkit.ai` so the REST function can
use it without importing the generators.
"""

from __future__ import annotations

import re

_SLUG = re.compile(r"[^a-z0-9]+")
_DNS_LABEL_MAX = 63


def slugify(name: str) -> str:
    """Lowercase letters, digits and single hyphens: safe in DNS labels and Kamal names."""
    return _SLUG.sub("-", name.lower()).strip("-") or "app"


def app_hostname(repo: str, env: str, apps_domain: str) -> str:
    """The environment's public host name; the repo slug is shortened to keep the label
    within DNS's 63 characters."""
    env_slug = slugify(env)
    room = _DNS_LABEL_MAX - len(env_slug) - 1
    repo_slug = slugify(repo)[:room].rstrip("-")
    return f"{repo_slug}-{env_slug}.{apps_domain}"
