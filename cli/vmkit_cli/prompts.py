"""Reading what must never be on the command line, and asking before what cannot be undone.

Tokens, keys and secret values come from a hidden prompt on a terminal or from stdin
when it is piped (`pass show hetzner | vmkit targets add hetzner`), never from argv,
where `ps`, shell history and CI logs would keep them. Prompts go to stderr so that
`--json` output on stdout stays one clean document.
"""

from __future__ import annotations

import getpass
import sys
from typing import Literal

from vmkit_cli.errors import UsageError

Choice = Literal["cancel", "detach", "resume"]


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def read_secret(what: str, *, strip: bool = True) -> str:
    """A secret from a hidden prompt, or the whole of stdin when it is piped.

    `strip=False` keeps a value exactly as given except for one trailing newline (the
    one `echo` adds), for env var values where other whitespace may matter.
    """
    if stdin_is_terminal():
        value = getpass.getpass(f"{what}: ", stream=sys.stderr)
    else:
        value = sys.stdin.read().removesuffix("\n").removesuffix("\r")
    if strip:
        value = value.strip()
    if not value:
        source = "typed" if stdin_is_terminal() else "on stdin"
        raise UsageError(
            f"no {what} {source}", hint=f"pipe the {what} in, or type it at the prompt"
        )
    return value


def refuse_in_argv(what: str, example: str) -> UsageError:
    """The error for a secret passed as an argument: say why, and how instead."""
    return UsageError(
        f"refusing to read the {what} from the command line, where shell history and `ps` keep it",
        hint=f"pipe it in instead: `{example}`, or leave it out and type it at the prompt",
    )


def ask(question: str) -> str:
    sys.stderr.write(question)
    sys.stderr.flush()
    answer = sys.stdin.readline()
    if not answer:  # end of input: no answer
        return ""
    return answer.strip()


def confirm_name(action: str, name: str) -> bool:
    """True when the person types `name` exactly (as GitHub asks before deleting a repo)."""
    return ask(f"{action}: type the environment's name ({name}) to confirm: ") == name


def after_interrupt(deploy_id: str) -> Choice:
    """Ctrl-C while watching: stop the deploy, or only stop watching it?"""
    if not stdin_is_terminal():
        return "detach"  # no one to ask: never cancel work on a guess
    try:
        answer = ask(
            f"\nStop watching {deploy_id}? [c]ancel the deploy, [d]etach and leave it running, "
            "[r]esume watching (default: detach): "
        ).lower()
    except KeyboardInterrupt:
        return "detach"
    if answer in ("c", "cancel"):
        return "cancel"
    if answer in ("r", "resume"):
        return "resume"
    return "detach"
