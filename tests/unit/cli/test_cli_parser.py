"""The command line's conventions, checked on every command the parser has."""

from __future__ import annotations

import argparse

import pytest

from vmkit_cli.main import build_parser, main

# A foreground server with output of its own; every other command speaks --json.
NO_JSON = {("local", "up")}


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    subcommands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subcommands:
        yield path, parser
        return
    for name, child in subcommands[0].choices.items():
        yield from _leaves(child, (*path, name))


LEAVES = list(_leaves(build_parser()))


def test_the_commands_the_issue_asks_for_all_exist():
    names = {" ".join(path) for path, _ in LEAVES}
    assert names >= {
        "login", "whoami", "targets add", "targets list", "repos connect", "repos list",
        "repos scan", "envs create", "envs list", "deploy", "deploys list", "deploys show",
        "deploys cancel", "status", "logs", "metrics", "doctor", "env list", "env set",
        "env unset", "destroy", "keys create", "keys list", "keys rotate", "keys revoke",
        "completion", "init", "local up", "local down", "admin bootstrap",
        "admin publish-agent",
    }  # fmt: skip


@pytest.mark.parametrize("path,parser", LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_every_command_takes_json_and_profile(path, parser):
    options = {o for action in parser._actions for o in action.option_strings}
    if path in NO_JSON:
        assert "--json" not in options
        return
    assert {"--json", "--profile"} <= options, path
    assert parser.description, path


def test_options_may_come_before_the_command_too():
    args = build_parser().parse_args(["--json", "--profile", "prod", "whoami"])
    assert args.json is True and args.profile == "prod"
    args = build_parser().parse_args(["whoami", "--json"])
    assert args.json is True and args.profile is None


def test_version(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("vmkit 0.")


@pytest.mark.parametrize(
    "argv,shown",
    [
        (["deploy", "--no-wiat"], "--no-wiat"),
        (["logs", "--lines", "many"], "--lines"),
        (["frobnicate"], "frobnicate"),
        (["targets"], "COMMAND"),
    ],
)
def test_a_wrong_command_line_is_one_line_and_exit_2(argv, shown, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and shown in err


def test_a_stray_value_is_never_echoed(capsys):
    # `vmkit targets add hetzner TOKEN`: the token must not end up in a CI log.
    with pytest.raises(SystemExit) as exited:
        main(["targets", "add", "hetzner", "hz-secret-token-value"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "hz-secret-token-value" not in err and "not shown" in err
