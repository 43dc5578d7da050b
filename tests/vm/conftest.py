"""Tests on real qemu guests (marker `vm`): minutes each, and they need qemu.

They run only when asked for by marker (`pytest -m vm`, as `make test-vm` and .ci/run
do); any other selection, `make test`'s included, leaves them out, so the unit and e2e
suites never boot a guest.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "vm" in (config.option.markexpr or "").replace("not vm", ""):
        return
    keep = [item for item in items if item.get_closest_marker("vm") is None]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep
