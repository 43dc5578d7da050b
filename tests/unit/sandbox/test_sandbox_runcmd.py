"""The runcmd subset, each command acting inside the VM's root like the real tool."""

from __future__ import annotations

import hashlib
import stat
import threading
from pathlib import Path

import pytest

from vmkit_local.sandbox.rootfs import seed_base_image
from vmkit_local.sandbox.runcmd import CommandContext, CommandFailed, redact_argv, run_command
from vmkit_local.sandbox.supervisor import ServiceSupervisor


@pytest.fixture
def output() -> list[str]:
    return []


@pytest.fixture
def ctx(tmp_path: Path, output: list[str]) -> CommandContext:
    root = tmp_path / "root"
    seed_base_image(root, "vm")
    return CommandContext(
        root=root,
        supervisor=ServiceSupervisor(root, "vm"),
        output=output.append,
        cancelled=threading.Event(),
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_chmod_takes_octal_and_simple_symbolic_modes(ctx: CommandContext):
    script = ctx.root / "usr/local/bin/tool"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o600)

    run_command(ctx, ["chmod", "+x", "/usr/local/bin/tool"])
    assert mode(script) == 0o711
    run_command(ctx, ["/bin/chmod", "0750", "/usr/local/bin/tool"])
    assert mode(script) == 0o750
    with pytest.raises(CommandFailed, match="cannot access '/nope'"):
        run_command(ctx, ["chmod", "0755", "/nope"])


def test_mkdir_and_mv_work_inside_the_root(ctx: CommandContext):
    run_command(ctx, ["mkdir", "-p", "-m", "0700", "/opt/vmkit/new"])
    assert mode(ctx.root / "opt/vmkit/new") == 0o700
    (ctx.root / "tmp/agent").write_text("binary")

    run_command(ctx, ["mv", "-f", "/tmp/agent", "/opt/vmkit/new"])

    assert (ctx.root / "opt/vmkit/new/agent").read_text() == "binary"
    with pytest.raises(CommandFailed, match="mkdir: cannot create directory '/a/b'"):
        run_command(ctx, ["mkdir", "/a/b"])


def test_sha256sum_check_reports_like_coreutils(ctx: CommandContext, output: list[str]):
    (ctx.root / "usr/local/bin/agent").write_bytes(b"agent")
    digest = hashlib.sha256(b"agent").hexdigest()
    (ctx.root / "etc/good.sha256").write_text(f"{digest}  /usr/local/bin/agent\n")
    (ctx.root / "etc/bad.sha256").write_text(f"{'f' * 64} */usr/local/bin/agent\n")
    (ctx.root / "etc/junk.sha256").write_text("not a checksum line\n")

    run_command(ctx, ["sha256sum", "--check", "--strict", "/etc/good.sha256"])
    assert output[-1] == "/usr/local/bin/agent: OK"
    with pytest.raises(CommandFailed, match="1 computed checksum did NOT match"):
        run_command(ctx, ["sha256sum", "-c", "/etc/bad.sha256"])
    with pytest.raises(CommandFailed, match="improperly formatted"):
        run_command(ctx, ["sha256sum", "--check", "--strict", "/etc/junk.sha256"])
    with pytest.raises(CommandFailed, match="only runs 'sha256sum --check FILE'"):
        run_command(ctx, ["sha256sum", "/usr/local/bin/agent"])


def test_systemctl_refuses_a_unit_that_does_not_exist(ctx: CommandContext):
    with pytest.raises(CommandFailed, match=r"Unit ghost\.service not found"):
        run_command(ctx, ["systemctl", "enable", "--now", "ghost"])
    with pytest.raises(CommandFailed, match="not interpreted by the sandbox"):
        run_command(ctx, ["systemctl", "start", "--now", "ghost"])


def test_curl_needs_an_output_file_and_refuses_unknown_options(ctx: CommandContext):
    with pytest.raises(CommandFailed, match="needs a URL and -o"):
        run_command(ctx, ["curl", "-fsSL", "http://127.0.0.1:9/agent"])
    with pytest.raises(CommandFailed, match="option '--insecure'"):
        run_command(ctx, ["curl", "--insecure", "-o", "/tmp/a", "http://127.0.0.1:9/agent"])


def test_a_url_query_string_is_kept_out_of_logs():
    argv = ["curl", "-o", "/x", "https://bucket.s3.amazonaws.com/agent?X-Amz-Signature=abc"]

    assert redact_argv(argv)[-1] == "https://bucket.s3.amazonaws.com/agent?…"
