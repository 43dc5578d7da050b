"""Kamal 2's .kamal/secrets: dotenv files interpolating the deploy step's environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmkit_local.sandbox.kamal_config import KamalConfigError
from vmkit_local.sandbox.kamal_secrets import KamalSecrets


def checkout(tmp_path: Path, **files: str) -> Path:
    (tmp_path / ".kamal").mkdir()
    for name, text in files.items():
        (tmp_path / ".kamal" / name.replace("_", "-")).write_text(text)
    return tmp_path


def test_values_interpolate_the_environment_and_earlier_keys(tmp_path: Path):
    repo = checkout(
        tmp_path,
        secrets=(
            "# from Actions\nKAMAL_REGISTRY_PASSWORD=$GITHUB_TOKEN\n"
            "export DB=${DB_PASSWORD}\nURL=\"postgres://app:$DB@db\"\nLITERAL='$NOT'\n"
        ),
    )

    secrets = KamalSecrets(
        repo, ".kamal/secrets", None, {"GITHUB_TOKEN": "ghs_1", "DB_PASSWORD": "pw"}
    )

    assert secrets["KAMAL_REGISTRY_PASSWORD"] == "ghs_1"
    assert secrets["URL"] == "postgres://app:pw@db"
    assert secrets["LITERAL"] == "$NOT"


def test_a_destination_file_overrides_the_common_one(tmp_path: Path):
    repo = checkout(tmp_path, secrets_common="A=common\nB=common\n")
    (repo / ".kamal/secrets.staging").write_text("B=staging\n")

    secrets = KamalSecrets(repo, ".kamal/secrets", "staging", {})

    assert (secrets["A"], secrets["B"]) == ("common", "staging")


def test_a_missing_secret_names_the_files_searched(tmp_path: Path):
    secrets = KamalSecrets(checkout(tmp_path, secrets="A=1\n"), ".kamal/secrets", None, {})

    with pytest.raises(KamalConfigError, match=r"Secret 'B' not found in \.kamal/secrets"):
        secrets["B"]


def test_no_secrets_file_at_all_says_so(tmp_path: Path):
    secrets = KamalSecrets(tmp_path, ".kamal/secrets", None, {"B": "in env only"})

    with pytest.raises(KamalConfigError, match="no secret files"):
        secrets.require(["B"])


def test_command_substitution_is_refused(tmp_path: Path):
    repo = checkout(tmp_path, secrets="TOKEN=$(kamal secrets fetch --adapter 1password)\n")

    with pytest.raises(KamalConfigError, match="command substitution"):
        KamalSecrets(repo, ".kamal/secrets", None, {})
