"""Shell completion, generated from the parser: bash completes for real, zsh parses."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from vmkit_cli.main import main


def _script(shell: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["completion", shell]) == 0
    return capsys.readouterr().out


def _bash_completes(script: str, line: str) -> list[str]:
    words = line.split(" ")
    program = f"""
{script}
COMP_WORDS=({" ".join(repr(w) for w in words)})
COMP_CWORD={len(words) - 1}
COMP_LINE={line!r}
COMP_POINT=${{#COMP_LINE}}
_shtab_vmkit vmkit {words[-1]!r} {words[-2]!r}
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_bash_completes_commands_subcommands_and_options(capsys):
    script = _script("bash", capsys)
    assert set(_bash_completes(script, "vmkit de")) == {"deploy", "deploys", "destroy"}
    assert set(_bash_completes(script, "vmkit keys r")) == {"rotate", "revoke"}
    assert "--no-wait" in _bash_completes(script, "vmkit deploy --no")
    assert "--token" not in _bash_completes(script, "vmkit targets add --")  # refused anyway


def test_zsh_script_is_valid_zsh_and_names_every_command(capsys):
    zsh = shutil.which("zsh")
    assert zsh, "zsh is needed to check the zsh completion (apt-get install zsh)"
    script = _script("zsh", capsys)
    assert script.startswith("#compdef vmkit")
    subprocess.run([zsh, "-n"], input=script, text=True, check=True)
    for command in ("deploy", "logs", "keys", "completion"):
        assert command in script
