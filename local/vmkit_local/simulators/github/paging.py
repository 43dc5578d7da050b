"""GitHub's page-number pagination: `per_page` (default 30, at most 100) and `Link` headers."""

from __future__ import annotations

from typing import Any

from ..endpoint import Call


def page_of(call: Call, items: list[Any], default: int = 30) -> tuple[list[Any], dict[str, str]]:
    """The requested page of `items` and the `Link` header pointing at the others."""
    per_page = min(max(_int(call.query.get("per_page"), default), 1), 100)
    page = max(_int(call.query.get("page"), 1), 1)
    last = max(1, -(-len(items) // per_page))
    window = items[(page - 1) * per_page : page * per_page]
    relations = {}
    if page < last:
        relations["next"], relations["last"] = page + 1, last
    if page > 1:
        relations["first"], relations["prev"] = 1, min(page - 1, last)
    links = ", ".join(
        f'<{call.url.include_query_params(page=number, per_page=per_page)}>; rel="{rel}"'
        for rel, number in relations.items()
    )
    return window, ({"Link": links} if links else {})


def _int(raw: str | None, default: int) -> int:
    try:
        return int(raw) if raw is not None else default
    except ValueError:
        return default
