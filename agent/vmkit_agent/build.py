"""Build the agent into one file: a zipapp holding `vmkit_agent` and a pure-Python
copy of the installed `websockets`, runnable as `python3 vmkit-agent.pyz` with nothing
else installed.

The archive is reproducible (sorted entries, fixed timestamps), so one source tree and
version give one sha256. `make agent` calls `main()`; the local stack calls
`build_agent()` to serve the agent to its simulated VMs.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import io
import marshal
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import websockets

import vmkit_agent

ARTIFACT_NAME = "vmkit-agent.pyz"
_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}")
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
# Build-time and test-only modules stay out of the artifact.
_EXCLUDED_MODULES = {"build.py", "testing.py"}
_LAUNCHER = '''\
"""vmkit-agent: put the vendored websockets ahead of any system copy, then run."""
import os
import sys

sys.path.insert(1, os.path.join(os.path.dirname(__file__), "_vendor"))

from vmkit_agent.main import main

sys.exit(main())
'''


@dataclass(frozen=True)
class AgentBuild:
    path: Path
    sha256: str
    version: str
    sha256_path: Path


def build_agent(out_dir: Path, *, version: str | None = None) -> AgentBuild:
    """Write `vmkit-agent.pyz` and `vmkit-agent.pyz.sha256` (sha256sum format) into
    `out_dir`; `version` overrides the package's version inside the archive."""
    version = version or vmkit_agent.__version__
    if not _VERSION.fullmatch(version):
        raise ValueError(f"agent version {version!r} must match {_VERSION.pattern}")
    files = {"__main__.py": _LAUNCHER.encode()}
    package = Path(vmkit_agent.__file__).parent
    for source in _python_files(package):
        if source.relative_to(package).as_posix() not in _EXCLUDED_MODULES:
            files[f"vmkit_agent/{source.relative_to(package).as_posix()}"] = source.read_bytes()
    files["vmkit_agent/_version.py"] = (
        f'"""Set by the build."""\n\n__version__ = "{version}"\n'.encode()
    )
    vendored = Path(websockets.__file__).parent
    for source in _python_files(vendored):
        files[f"_vendor/websockets/{source.relative_to(vendored).as_posix()}"] = source.read_bytes()
    for name in [n for n in files if n.endswith(".py") and n != "__main__.py"]:
        files[f"{name}c"] = _bytecode(files[name], name)
    files["_vendor/websockets.LICENSE"] = _websockets_license()

    archive = io.BytesIO()
    archive.write(b"#!/usr/bin/env python3\n")
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, files[name])
    data = archive.getvalue()
    digest = hashlib.sha256(data).hexdigest()

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / ARTIFACT_NAME
    sha_path = out_dir / f"{ARTIFACT_NAME}.sha256"
    _write_atomically(path, data, 0o755)
    _write_atomically(sha_path, f"{digest}  {ARTIFACT_NAME}\n".encode(), 0o644)
    return AgentBuild(path=path, sha256=digest, version=version, sha256_path=sha_path)


def _python_files(package: Path) -> list[Path]:
    """Sources only: no compiled extensions (websockets falls back to pure Python for
    its one C speedup), no caches, no stubs."""
    return sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)


def _bytecode(source: bytes, name: str) -> bytes:
    """An unchecked-hash .pyc (PEP 552) for this interpreter. zipimport cannot cache
    bytecode, so without these every start compiles ~70 modules, which costs startup
    time and about 1.5 MB of idle RSS. Under another Python version the magic number
    differs and zipimport falls back to the source next to it."""
    code = compile(source, name, "exec", dont_inherit=True)
    unchecked_hash = (0b01).to_bytes(4, "little")
    return (
        importlib.util.MAGIC_NUMBER
        + unchecked_hash
        + importlib.util.source_hash(source)
        + marshal.dumps(code)
    )


def _websockets_license() -> bytes:
    dist = importlib.metadata.distribution("websockets")
    for file in dist.files or ():
        if file.name.upper().startswith("LICENSE"):
            return file.read_binary()
    raise RuntimeError("the installed websockets has no LICENSE file to ship with the copy")


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            os.fchmod(handle.fileno(), mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vmkit_agent.build", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("dist"), help="output directory")
    parser.add_argument("--version", help="version embedded in the agent (default: the package's)")
    args = parser.parse_args(argv)
    build = build_agent(args.out, version=args.version)
    print(f"{build.path}  version {build.version}  sha256 {build.sha256}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
