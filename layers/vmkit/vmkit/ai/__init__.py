"""Onboarding intelligence: scan a repo, generate the files that deploy it.

Heavy SDKs (githubkit, anthropic) are imported only inside the functions that call
them, so importing this package stays cheap for Lambdas that only scan.
"""

from vmkit.ai.context import GenerationContext, app_hostname, slugify
from vmkit.ai.github_files import GitHubRepoFiles
from vmkit.ai.kamal_validator import (
    load_kamal_config,
    validate_kamal_config,
    validate_kamal_secrets,
)
from vmkit.ai.local_init import InitFile, InitResult, init_local
from vmkit.ai.model_generation import ModelSettings
from vmkit.ai.onboarding import GenerationReport, GeneratorReport, Onboarding, generate_onboarding
from vmkit.ai.repo_files import LocalCheckout, RepoFiles
from vmkit.ai.repo_scanner import scan
from vmkit.ai.scan_result import ScanResult
from vmkit.ai.validators import Linters

__all__ = [
    "GenerationContext",
    "GenerationReport",
    "GeneratorReport",
    "GitHubRepoFiles",
    "InitFile",
    "InitResult",
    "Linters",
    "LocalCheckout",
    "ModelSettings",
    "Onboarding",
    "RepoFiles",
    "ScanResult",
    "app_hostname",
    "generate_onboarding",
    "init_local",
    "load_kamal_config",
    "scan",
    "slugify",
    "validate_kamal_config",
    "validate_kamal_secrets",
]
