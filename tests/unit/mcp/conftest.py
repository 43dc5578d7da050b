from __future__ import annotations

import pytest

from tests.support.api import make_world
from tests.unit.mcp.mcp_support import mcp_url  # noqa: F401 (a fixture)


@pytest.fixture
def world(tenant):
    return make_world(tenant)


@pytest.fixture
def new_key(tenant):
    """Make an API key in the tenant's workspace with the given scope (through REST)."""

    def make(scope: str, environment_ids: tuple[str, ...] = ()) -> str:
        resp = tenant.client.post(
            "/api/keys",
            json={
                "name": f"{scope} key",
                "scopes": [scope],
                "environment_ids": list(environment_ids),
            },
        )
        assert resp.status_code == 201, resp.text
        return resp.json()["key"]

    return make
