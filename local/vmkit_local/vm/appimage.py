"""Container images for a real guest's Docker, made offline on the runner.

No registry is reachable, so the image's layers reach the guest over SSH the way a
`docker pull` fetches them, each only when the guest lacks it:
- the base layer, Debian's `python3` and `dash` unpacked by mmdebstrap's `extract`
  variant (no maintainer scripts, no docs), built once and cached by its recipe's hash
  beside the guest image, goes in with `docker import` as `vmkit-local/debian-python`;
- the release's layer is a build context on that base: the buildpacks stand-in's
  `/workspace` with the Procfile's `web` process as the command for the app, or
  `kamal_proxy.py` for the proxy. `docker build -` on the guest turns it into the
  image; it runs nothing, it only adds the files and the image config.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import shlex
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from vmkit_local.sandbox.buildpacks import Image as BuiltApp
from vmkit_local.vm.errors import ImageBuildFailed
from vmkit_local.vm.image import cache_root, require_tools

BASE_PACKAGES = ("python3", "dash")
BASE_VERSION = 2
BASE_REPOSITORY = "vmkit-local/debian-python"
PROXY_REPOSITORY = "vmkit-local/kamal-proxy"
# Trimmed from the base: an app image needs none of it.
_EXCLUDE = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/locale/*", "/usr/share/info/*")
PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class BaseLayer:
    reference: str
    tarball: Path

    def import_command(self) -> str:
        return f"docker import - {shlex.quote(self.reference)}"


@dataclass(frozen=True)
class ContainerImage:
    """A build context (Dockerfile and files) on the base layer."""

    reference: str
    context: Path
    base: BaseLayer

    def build_command(self) -> str:
        return f"DOCKER_BUILDKIT=0 docker build --quiet --tag {shlex.quote(self.reference)} -"


def base_layer(root: Path | None = None) -> BaseLayer:
    """The cached base layer (a few seconds to build from Debian's packages)."""
    root = root or cache_root()
    recipe = json.dumps({"packages": BASE_PACKAGES, "exclude": _EXCLUDE, "v": BASE_VERSION})
    digest = hashlib.sha256(recipe.encode()).hexdigest()[:16]
    path = root / f"container-base-{digest}.tar"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".container-base-{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            _build_base(path)
    return BaseLayer(f"{BASE_REPOSITORY}:{digest}", path)


def _build_base(path: Path) -> None:
    require_tools({"mmdebstrap": "mmdebstrap"})
    unpacked = path.with_suffix(".mmdebstrap.tar")
    argv = [
        "mmdebstrap",
        "--variant=extract",
        "--quiet",
        f"--include={','.join(BASE_PACKAGES)}",
        *(f"--dpkgopt=path-exclude={pattern}" for pattern in _EXCLUDE),
        "bookworm",
        str(unpacked),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ImageBuildFailed(f"mmdebstrap failed: {done.stderr.strip()[-1000:]}")
    staging = path.with_suffix(".partial")
    rewrite_base(unpacked, staging)
    unpacked.unlink()
    staging.rename(path)


def rewrite_base(unpacked: Path, out: Path) -> list[str]:
    """The base's tarball with `python` on PATH, as the CPython buildpack provides it
    (Procfiles say `python app.py`), and no path twice (docker import refuses that).
    Returns the members' names."""
    with tarfile.open(unpacked) as source, tarfile.open(out, "w") as tar:
        names = []
        for member in source:
            names.append(member.name)
            tar.addfile(member, source.extractfile(member) if member.isfile() else None)
        python = "./usr/local/bin/python"
        if not {python, python.removeprefix("./")} & set(names):
            link = tarfile.TarInfo(python)
            link.type, link.linkname = tarfile.SYMTYPE, "/usr/bin/python3"
            tar.addfile(link)
            names.append(python)
    return names


def app_image(
    app: BuiltApp, out_dir: Path, labels: dict[str, str], base: BaseLayer | None = None
) -> ContainerImage:
    """The buildpacks stand-in's image, as a Docker image on the base layer."""
    base = base or base_layer()
    config = app.config()
    labels = {
        **labels,
        "io.buildpacks.build.metadata": config["Labels"]["io.buildpacks.build.metadata"],
    }
    dockerfile = "\n".join(
        [
            f"FROM {base.reference}",
            "COPY workspace /workspace",
            f"WORKDIR {config['WorkingDir']}",
            f"ENV PATH={PATH} HOME=/workspace PYTHONUNBUFFERED=1",
            "LABEL " + " ".join(f"{k}={json.dumps(v)}" for k, v in labels.items()),
            f"CMD {json.dumps(['/bin/sh', '-c', config['Processes']['web']])}",
            "",
        ]
    )
    context = out_dir / "app-context.tar"
    with tarfile.open(context, "w") as tar:
        _add_file(tar, "Dockerfile", dockerfile.encode(), 0o644)
        tar.add(app.directory / "workspace", arcname="workspace", filter=_owned_by_root)
    return ContainerImage(app.reference, context, base)


def proxy_image(out_dir: Path, base: BaseLayer | None = None) -> ContainerImage:
    base = base or base_layer()
    source = Path(__file__).with_name("kamal_proxy.py").read_bytes()
    digest = hashlib.sha256(source + base.reference.encode()).hexdigest()[:12]
    dockerfile = (
        f"FROM {base.reference}\nCOPY kamal-proxy /usr/local/bin/kamal-proxy\n"
        f'ENV PATH={PATH}\nCMD ["kamal-proxy", "run"]\n'
    )
    context = out_dir / "proxy-context.tar"
    with tarfile.open(context, "w") as tar:
        _add_file(tar, "Dockerfile", dockerfile.encode(), 0o644)
        _add_file(tar, "kamal-proxy", b"#!/usr/bin/python3\n" + source, 0o755)
    return ContainerImage(f"{PROXY_REPOSITORY}:{digest}", context, base)


def _owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def _add_file(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))
