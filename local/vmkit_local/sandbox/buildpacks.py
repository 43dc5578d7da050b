"""The Cloud Native Buildpacks stand-in: a checkout becomes an image directory.

What `pack build` with Paketo's builder gives an app, reduced to what runs locally:
- the app's files as the image's `/workspace` (without `.git`);
- a runtime: for Python apps the local interpreter, wrapped as `python`/`python3` on
  the image's PATH (dependencies are not installed offline; the local stack's
  environment provides them);
- the start command from the `Procfile`'s `web:` process, as Paketo's procfile
  buildpack sets it (no Procfile: detection fails, as it would without one for a
  stack that needs an explicit start command).

The image is a directory `images/<repository>/<version>/` holding `workspace/`,
`layers/` and `config.json` (the OCI config's Env, WorkingDir, labels and process
types). Paths in the config are the container's (`/workspace`, `/layers/...`); the
runtime maps them into the image directory, as a container's rootfs would.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from vmkit_local.sandbox.actions_log import ActionsLog
from vmkit_local.sandbox.errors import SandboxError

IMAGES_DIR = "var/lib/vmkit-sandbox/images"
_PYTHON_MARKERS = ("requirements.txt", "pyproject.toml", "Pipfile", "setup.py")
_REPOSITORY = re.compile(
    r"(?:[a-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
)
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_IMAGE_DIRS = ("/workspace", "/layers")
_PROCESS_LINE = re.compile(r"^([A-Za-z0-9_-]+)\s*:\s*(.+)$")


class BuildFailed(SandboxError):
    """The buildpacks stand-in cannot build this checkout, or the image reference is bad."""


@dataclass(frozen=True)
class Image:
    repository: str
    version: str
    directory: Path  # where the image lives (on the runner, or pulled onto a VM)

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.version}"

    def config(self) -> dict:
        return json.loads((self.directory / "config.json").read_text())

    def process(self, cmd: str | None = None) -> tuple[list[str], dict[str, str], Path]:
        """argv, environment and working directory to run the image, on the host.

        Without `cmd` the default `web` process runs; a `cmd` naming a process type runs
        that one, anything else runs as a shell command, as the CNB launcher does.
        """
        config = self.config()
        command = config["Processes"].get(cmd or "web", cmd)
        env = {key: self._host_paths(value) for key, value in config["Env"].items()}
        return ["/bin/sh", "-c", command], env, Path(self._host_paths(config["WorkingDir"]))

    def _host_paths(self, value: str) -> str:
        return ":".join(
            str(self.directory / entry.lstrip("/")) if entry.startswith(_IMAGE_DIRS) else entry
            for entry in value.split(":")
        )


def build_image(
    checkout: Path, repository: str, version: str, output: Path, log: ActionsLog
) -> Image:
    """`pack build <repository>:<version> --builder paketobuildpacks/builder-jammy-base`."""
    if not _REPOSITORY.fullmatch(repository) or not _TAG.fullmatch(version):
        raise BuildFailed(f"invalid reference format: {repository}:{version}")
    log.line("===> DETECTING")
    processes = _procfile(checkout)
    python = any((checkout / marker).exists() for marker in _PYTHON_MARKERS) or any(
        checkout.glob("*.py")
    )
    if "web" not in processes:
        log.line("ERROR: No buildpack groups passed detection.")
        log.line("ERROR: Please check that you are running against the correct path.")
        reason = "the Procfile has no web: process" if processes else "there is no Procfile"
        if (checkout / "Dockerfile").exists():
            reason += " (Dockerfile builds need Docker, which the local stack does not run)"
        raise BuildFailed(f"failed to build: buildpack detection failed: {reason}")
    groups = (["paketo-buildpacks/cpython"] if python else []) + ["paketo-buildpacks/procfile"]
    for buildpack in groups:
        log.line(f"{buildpack:40} (local stand-in)")
    image = Image(repository, version, output / repository / version)
    if image.directory.exists():
        shutil.rmtree(image.directory)
    log.line("===> BUILDING")
    shutil.copytree(
        checkout,
        image.directory / "workspace",
        symlinks=True,
        ignore=shutil.ignore_patterns(".git"),
    )
    layer_bin = image.directory / "layers/python/bin"
    if python:
        log.line(
            f"Paketo Buildpack for CPython: using the local interpreter {sys.version.split()[0]}"
        )
        layer_bin.mkdir(parents=True)
        for name in ("python", "python3"):
            wrapper = layer_bin / name
            wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
            wrapper.chmod(0o755)
    log.line("Paketo Buildpack for Procfile")
    log.line("  Process types:")
    for name, command in processes.items():
        log.line(f"    {name}: {command}")
    log.line("===> EXPORTING")
    path = ":".join(
        [*(["/layers/python/bin"] if python else []), "/usr/local/bin", "/usr/bin", "/bin"]
    )
    config = {
        "Env": {"PATH": path, "HOME": "/workspace", "CNB_APP_DIR": "/workspace"},
        "WorkingDir": "/workspace",
        "Labels": {"io.buildpacks.build.metadata": json.dumps({"processes": processes})},
        "Processes": processes,
    }
    (image.directory / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    log.line("Setting default process type 'web'")
    log.line(f"Saving {image.reference}...")
    log.line(f"Successfully built image '{image.reference}'")
    return image


def push_image(image: Image, registry: Path) -> Image:
    """`--publish`: the image into the registry stand-in (GHCR), where later runs find it."""
    return _copy_image(image, Path(registry) / image.repository / image.version)


def registry_image(registry: Path | None, repository: str, version: str) -> Image | None:
    """`docker manifest inspect`: the registry's image of that version, if it has one."""
    if registry is None or not _TAG.fullmatch(version):
        return None
    directory = Path(registry) / repository / version
    return Image(repository, version, directory) if (directory / "config.json").exists() else None


def _copy_image(image: Image, directory: Path) -> Image:
    copied = Image(image.repository, image.version, directory)
    if directory.exists():
        return copied  # already there: an image of a given version does not change
    staging = directory.with_name(f".{image.version}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(image.directory, staging, symlinks=True)
    staging.replace(directory)
    return copied


def pull_image(image: Image, root: Path) -> Image:
    """`docker pull` onto the VM: the image directory copied under the VM's root."""
    return _copy_image(image, Path(root) / IMAGES_DIR / image.repository / image.version)


def _procfile(checkout: Path) -> dict[str, str]:
    path = checkout / "Procfile"
    if not path.is_file():
        return {}
    processes = {}
    for line in path.read_text().splitlines():
        match = _PROCESS_LINE.match(line.strip())
        if match:
            processes[match.group(1)] = match.group(2).strip()
    return processes
