"""Onboarding intelligence: scan a repo, generate the files that deploy it.

Names are re-exported lazily (PEP 562): importing one submodule, such as
`vmkit.ai.scan_result` for the `ScanResult` type a REST route or MCP tool declares,
must not load the generators, the validators and their dependencies into a cold
start that only needs the type. Heavy SDKs (githubkit, anthropic) are imported only
inside the functions that call them.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "GenerationContext": "context",
    "app_hostname": "context",
    "slugify": "context",
    "load_kamal_config": "kamal_validator",
    "validate_kamal_config": "kamal_validator",
    "validate_kamal_secrets": "kamal_validator",
    "InitFile": "local_init",
    "InitResult": "local_init",
    "init_local": "local_init",
    "ModelSettings": "model_generation",
    "GenerationReport": "onboarding",
    "GeneratorReport": "onboarding",
    "Onboarding": "onboarding",
    "generate_onboarding": "onboarding",
    "LocalCheckout": "repo_files",
    "RepoFiles": "repo_files",
    "scan": "repo_scanner",
    "ScanResult": "scan_result",
    "Linters": "validators",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vmkit.ai' has no attribute {name!r}")
    return getattr(importlib.import_module(f"vmkit.ai.{_EXPORTS[name]}"), name)
