"""What can go wrong in a command, and the exit code each outcome gets.

Exit codes are part of the CLI's contract, so scripts can branch on them:

- 0: it worked (a deploy succeeded);
- 1: it failed (the API refused or failed, a deploy failed, the stack is unreachable);
- 2: the command line is wrong (an unknown option, a missing argument, a secret on the
  command line, a name that matches nothing or more than one thing);
- 3: it was cancelled (a deploy cancelled by you or someone else, a confirmation
  declined).

Every error reaches the person as one line: what happened, the API's code in
brackets when there is one, and what to do next.
"""

from __future__ import annotations

SUCCEEDED = 0
FAILED = 1
USAGE = 2
CANCELLED = 3


class CliError(Exception):
    """A failure the person can act on; `hint` says how."""

    exit_code = FAILED

    def __init__(self, message: str, *, hint: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code

    def line(self) -> str:
        text = self.message
        if self.code:
            text += f" [{self.code}]"
        if self.hint:
            text += f"; {self.hint}"
        return text


class UsageError(CliError):
    exit_code = USAGE


class Cancelled(CliError):
    exit_code = CANCELLED
