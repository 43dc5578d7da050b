"""Shared fixtures for the onboarding unit tests: the sample app corpus."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from vmkit.ai.context import GenerationContext
from vmkit.ai.repo_files import LocalCheckout
from vmkit.ai.repo_scanner import scan
from vmkit.ai.scan_result import ScanResult

REPO_ROOT = Path(__file__).resolve().parents[3]
APPS = REPO_ROOT / "tests" / "fixtures" / "apps"
HELLO = REPO_ROOT / "examples" / "hello"


def scan_app(name: str) -> ScanResult:
    return scan(LocalCheckout(HELLO if name == "hello" else APPS / name))


@pytest.fixture
def ctx() -> GenerationContext:
    return GenerationContext(owner="Acme", repo="Invoicer")


@pytest.fixture
def app_copy(tmp_path: Path):
    """A writable copy of a sample app, for tests that change the tree."""

    def copy(name: str) -> Path:
        source = HELLO if name == "hello" else APPS / name
        target = tmp_path / name
        shutil.copytree(source, target)
        return target

    return copy
