"""The commands VMKit's cloud-config `runcmd` uses, done inside the VM's root.

Exactly the argv forms the brief lists are interpreted: curl (download), sha256sum
--check, chmod, mv, mkdir and systemctl daemon-reload/enable/start/restart. Any other
program or option is refused by name, so the renderer cannot start relying on
something the sandbox would quietly skip. Messages mimic the real tools' so
cloud-init-output.log reads like a VM's.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit, urlunsplit

import httpx

from vmkit_local.sandbox.errors import SandboxError
from vmkit_local.sandbox.rootfs import resolve_in_root
from vmkit_local.sandbox.supervisor import ServiceSupervisor

_BIN_DIRS = frozenset({"/bin", "/usr/bin", "/usr/local/bin", "/sbin", "/usr/sbin"})
# HTTP statuses curl's --retry treats as transient.
_CURL_TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class CommandFailed(SandboxError):
    """A runcmd entry ran and failed (or was refused); the message is the tool's."""


@dataclass
class CommandContext:
    root: Path
    supervisor: ServiceSupervisor
    output: Callable[[str], None]
    cancelled: threading.Event
    time_scale: float = 1.0
    download_timeout: float = 30.0


def check_supported(argv: list[str]) -> None:
    """Refuse an entry whose program the sandbox does not interpret, before anything runs."""
    if not argv or not all(isinstance(arg, str) for arg in argv):
        raise CommandFailed("runcmd entries must be non-empty lists of strings")
    if _program_name(argv[0]) == "sh":
        for command in _and_chain(argv[1:]):
            check_supported(command)
        return
    if _program_name(argv[0]) not in _COMMANDS:
        raise CommandFailed(
            f"command {argv[0]!r} is not interpreted by the sandbox "
            f"(supported: {', '.join(sorted(_COMMANDS))})"
        )


def run_command(ctx: CommandContext, argv: list[str]) -> None:
    """Run one runcmd entry given in argv form; raise CommandFailed when it fails."""
    check_supported(argv)
    if _program_name(argv[0]) == "sh":
        for command in _and_chain(argv[1:]):  # stops at the first failure, as `&&` does
            _COMMANDS[_program_name(command[0])](ctx, command[1:])
        return
    _COMMANDS[_program_name(argv[0])](ctx, argv[1:])


def _and_chain(args: list[str]) -> list[list[str]]:
    """`sh -c 'a && b && c'`: real cloud-init goes on after a failed runcmd entry, so VMKit
    chains the agent's install with `&&` to stop at the first failure (a bad checksum
    must never start the agent). Only that form is interpreted: no `;`, pipes,
    redirections or substitutions."""
    if len(args) != 2 or args[0] != "-c":
        raise CommandFailed("only `sh -c '<command> && <command> ...'` is interpreted")
    lexer = shlex.shlex(args[1], posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for word in lexer:
        if word == "&&":
            commands.append([])
        elif word and set(word) <= set("();<>|&"):
            raise CommandFailed(f"shell operator {word!r} is not interpreted by the sandbox")
        elif "$" in word or "`" in word:
            raise CommandFailed(f"substitution in {word!r} is not interpreted by the sandbox")
        else:
            commands[-1].append(word)
    if any(not command for command in commands):
        raise CommandFailed("empty command in the `&&` chain")
    return commands


def redact_argv(argv: list[str]) -> list[str]:
    """argv for logs: URL query strings (presigned URLs carry credentials) dropped."""
    return [_redact_url(arg) if "://" in str(arg) else str(arg) for arg in argv]


def _program_name(program: str) -> str:
    if "/" not in program:
        return program
    path = PurePosixPath(program)
    return path.name if str(path.parent) in _BIN_DIRS else program


def _redact_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query="…" if parts.query else ""))


def _path(ctx: CommandContext, path: str) -> Path:
    return resolve_in_root(ctx.root, path)


# curl -------------------------------------------------------------------------------


@dataclass
class _CurlOptions:
    url: str
    output: str
    fail: bool = False
    follow: bool = False
    retries: int = 0


def _curl(ctx: CommandContext, args: list[str]) -> None:
    options = _parse_curl(args)
    target = _path(ctx, options.output)
    delay = 1.0
    for attempt in range(options.retries + 1):
        try:
            _download(ctx, options, target)
            return
        except _TransientDownloadError as error:
            if attempt == options.retries or ctx.cancelled.is_set():
                raise CommandFailed(str(error)) from None
            ctx.output(
                f"Warning: Problem : {error.reason}. Will retry in {delay:g} seconds. "
                f"{options.retries - attempt} retries left."
            )
            if ctx.cancelled.wait(delay * ctx.time_scale):
                raise CommandFailed("curl: (42) Operation aborted by callback") from None
            delay = min(delay * 2, 600)


class _TransientDownloadError(Exception):
    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def _download(ctx: CommandContext, options: _CurlOptions, target: Path) -> None:
    shown = _redact_url(options.url)
    try:
        with httpx.stream(
            "GET",
            options.url,
            follow_redirects=options.follow,
            timeout=ctx.download_timeout,
            headers={"User-Agent": "curl/7.88.1"},
        ) as response:
            if options.fail and response.status_code >= 400:
                message = f"curl: (22) The requested URL returned error: {response.status_code}"
                if response.status_code in _CURL_TRANSIENT_STATUSES:
                    raise _TransientDownloadError(message, f"HTTP error {response.status_code}")
                raise CommandFailed(message)
            if not target.parent.is_dir():
                raise CommandFailed(
                    f"curl: (23) Failure writing output to destination {options.output}"
                )
            with target.open("wb") as handle:
                for chunk in response.iter_bytes():
                    if ctx.cancelled.is_set():
                        raise CommandFailed("curl: (42) Operation aborted by callback")
                    handle.write(chunk)
    except httpx.ConnectError:
        host = urlsplit(options.url).netloc
        raise CommandFailed(f"curl: (7) Failed to connect to {host}: Connection refused") from None
    except httpx.TimeoutException:
        raise _TransientDownloadError(
            f"curl: (28) Operation timed out while fetching {shown}", "Timeout"
        ) from None
    except httpx.HTTPError as error:
        message = f"curl: (56) Failure when receiving data from {shown}: {error}"
        raise CommandFailed(message) from None


def _parse_curl(args: list[str]) -> _CurlOptions:
    flags: set[str] = set()
    output = url = None
    retries = 0
    position = 0
    while position < len(args):
        arg = args[position]
        if arg in ("-o", "--output", "--retry"):
            if position + 1 >= len(args):
                raise CommandFailed(f"curl: option {arg}: requires parameter")
            value = args[position + 1]
            if arg == "--retry":
                if not value.isdigit():
                    raise CommandFailed(f"curl: option --retry: expected a number, got {value!r}")
                retries = int(value)
            else:
                output = value
            position += 2
            continue
        if re.fullmatch(r"-[fsSL]+", arg):
            flags.update(arg[1:])
        elif arg in ("--fail", "--silent", "--show-error", "--location"):
            flags.add({"--fail": "f", "--silent": "s", "--show-error": "S", "--location": "L"}[arg])
        elif arg.startswith("-"):
            raise CommandFailed(f"curl option {arg!r} is not interpreted by the sandbox")
        elif url is None:
            url = arg
        else:
            raise CommandFailed("curl: the sandbox downloads one URL per entry")
        position += 1
    if url is None or output is None:
        raise CommandFailed("curl: the sandbox needs a URL and -o <file>")
    return _CurlOptions(url, output, fail="f" in flags, follow="L" in flags, retries=retries)


# sha256sum --check ------------------------------------------------------------------


def _sha256sum(ctx: CommandContext, args: list[str]) -> None:
    flags = {arg for arg in args if arg.startswith("-")}
    files = [arg for arg in args if not arg.startswith("-")]
    unknown = flags - {"-c", "--check", "--strict", "--status", "--quiet", "-w", "--warn"}
    if unknown:
        raise CommandFailed(f"sha256sum option(s) not interpreted: {', '.join(sorted(unknown))}")
    if not flags & {"-c", "--check"} or not files:
        raise CommandFailed("sha256sum: the sandbox only runs 'sha256sum --check FILE'")
    quiet = bool(flags & {"--status", "--quiet"})
    failures = malformed = 0
    for sums_file in files:
        path = _path(ctx, sums_file)
        if not path.is_file():
            raise CommandFailed(f"sha256sum: {sums_file}: No such file or directory")
        for line in path.read_text().splitlines():
            match = re.fullmatch(r"([0-9a-fA-F]{64}) [ *](.+)", line)
            if match is None:
                malformed += 1
                continue
            expected, name = match.groups()
            checked = _path(ctx, name)
            if not checked.is_file():
                ctx.output(f"sha256sum: {name}: No such file or directory")
                ctx.output(f"{name}: FAILED open or read")
                failures += 1
                continue
            actual = hashlib.sha256(checked.read_bytes()).hexdigest()
            if actual != expected.lower():
                ctx.output(f"{name}: FAILED")
                failures += 1
            elif not quiet:
                ctx.output(f"{name}: OK")
    if failures:
        plural = "checksum did" if failures == 1 else "checksums did"
        raise CommandFailed(f"sha256sum: WARNING: {failures} computed {plural} NOT match")
    if malformed and "--strict" in flags:
        raise CommandFailed(f"sha256sum: WARNING: {malformed} line(s) improperly formatted")


# chmod, mv, mkdir -------------------------------------------------------------------


def _chmod(ctx: CommandContext, args: list[str]) -> None:
    if len(args) < 2 or args[0].startswith("-"):
        raise CommandFailed("chmod: the sandbox runs 'chmod MODE FILE...' without options")
    mode, *paths = args
    for name in paths:
        path = _path(ctx, name)
        if not path.exists():
            raise CommandFailed(f"chmod: cannot access '{name}': No such file or directory")
        path.chmod(_apply_mode(mode, stat.S_IMODE(path.stat().st_mode)))


def _apply_mode(mode: str, current: int) -> int:
    if re.fullmatch(r"[0-7]{1,4}", mode):
        return int(mode, 8)
    match = re.fullmatch(r"([ugoa]*)([+-])([rwx]+)", mode)
    if match is None:
        raise CommandFailed(f"chmod: invalid mode: '{mode}'")
    who, op, perms = match.groups()
    shifts = {"u": 6, "g": 3, "o": 0}
    targets = (who or "ugo").replace("a", "ugo")
    bits = sum({"r": 4, "w": 2, "x": 1}[p] << shifts[w] for w in targets for p in perms)
    return current | bits if op == "+" else current & ~bits


def _mv(ctx: CommandContext, args: list[str]) -> None:
    operands = [arg for arg in args if arg != "-f"]
    if len(operands) != 2 or any(arg.startswith("-") for arg in operands):
        raise CommandFailed("mv: the sandbox runs 'mv [-f] SOURCE DEST'")
    source_name, dest_name = operands
    source, dest = _path(ctx, source_name), _path(ctx, dest_name)
    if not source.exists():
        raise CommandFailed(f"mv: cannot stat '{source_name}': No such file or directory")
    if dest.is_dir():
        dest = dest / source.name
    if not dest.parent.is_dir():
        raise CommandFailed(f"mv: cannot move '{source_name}' to '{dest_name}': No such directory")
    source.replace(dest)


def _mkdir(ctx: CommandContext, args: list[str]) -> None:
    parents = False
    mode = None
    paths: list[str] = []
    position = 0
    while position < len(args):
        arg = args[position]
        if arg == "-p":
            parents = True
        elif arg == "-m" and position + 1 < len(args):
            mode = args[position + 1]
            position += 1
        elif arg.startswith("-"):
            raise CommandFailed(f"mkdir option {arg!r} is not interpreted by the sandbox")
        else:
            paths.append(arg)
        position += 1
    if not paths:
        raise CommandFailed("mkdir: missing operand")
    for name in paths:
        path = _path(ctx, name)
        try:
            path.mkdir(parents=parents, exist_ok=parents)
        except FileExistsError:
            raise CommandFailed(f"mkdir: cannot create directory '{name}': File exists") from None
        except FileNotFoundError:
            raise CommandFailed(
                f"mkdir: cannot create directory '{name}': No such file or directory"
            ) from None
        if mode is not None:
            path.chmod(_apply_mode(mode, 0o755))


# systemctl --------------------------------------------------------------------------


def _systemctl(ctx: CommandContext, args: list[str]) -> None:
    if not args:
        raise CommandFailed("systemctl: missing verb")
    verb, *rest = args
    now = "--now" in rest
    units = [_unit_name(arg) for arg in rest if arg != "--now"]
    if any(unit.startswith("-") for unit in units) or (now and verb != "enable"):
        raise CommandFailed(f"systemctl {verb}: option(s) not interpreted by the sandbox")
    if verb == "daemon-reload" and not units:
        ctx.supervisor.daemon_reload()
        return
    if verb not in ("enable", "start", "restart") or not units:
        raise CommandFailed(
            f"systemctl {' '.join(args)!r} is not interpreted by the sandbox "
            "(daemon-reload, enable [--now] UNIT, start UNIT, restart UNIT)"
        )
    try:
        for unit in units:
            if verb == "enable":
                for link in ctx.supervisor.enable(unit):
                    ctx.output(f"Created symlink {link} → /etc/systemd/system/{unit}.")
            if verb == "start" or (verb == "enable" and now):
                ctx.supervisor.start(unit)
            elif verb == "restart":
                ctx.supervisor.restart(unit)
    except SandboxError as error:
        raise CommandFailed(f"Job for {unit} failed: {error.message}") from None


def _unit_name(name: str) -> str:
    return name if name.startswith("-") or "." in name else f"{name}.service"


_COMMANDS: dict[str, Callable[[CommandContext, list[str]], None]] = {
    "curl": _curl,
    "sha256sum": _sha256sum,
    "chmod": _chmod,
    "mv": _mv,
    "mkdir": _mkdir,
    "systemctl": _systemctl,
}
