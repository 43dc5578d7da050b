"""Host access: one interface (`Host`), a real implementation and a sandbox one."""

from __future__ import annotations

from pathlib import Path

from vmkit_agent.host.base import Container, DiskUsage, Host, LogLine


def make_host(root: Path) -> Host:
    """The real host when the root is `/`, the sandbox anywhere else."""
    if root == Path("/"):
        from vmkit_agent.host.linux import LinuxHost

        return LinuxHost()
    from vmkit_agent.host.sandbox import SandboxHost

    return SandboxHost(root)


__all__ = ["Container", "DiskUsage", "Host", "LogLine", "make_host"]
