"""``make release``: the macro's versioned artefacts from a finished ``sam build``.

Writes ``dist/release/<version>/``:

- ``private-s3-processor-macro-<version>-<arch>.zip``: one per architecture the build
  declares, the function folder ``sam build`` left (what ``make bundle`` zips), with
  fixed timestamps and order, so the same build gives the same bytes;
- ``requirements.txt``: the lock the zips were built from (``macros/requirements.txt``);
- ``macro-stackset-<arch>.yaml``: the StackSet template (template.py) whose ``CodeKey``
  default is ``private-s3-processor/<version>/<zip>``;
- ``SHA256SUMS``: ``sha256sum -c`` reads it.

It refuses, in one line and before writing anything, a bundle whose compiled modules
are for another architecture than the one the template offers, and a bundle whose
installed distributions are not exactly the lock's pins (the build is stale).

``python tools/release.py [--build .aws-sam/build] [--lock macros/requirements.txt]
[--out dist/release]``
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # template.py lives at the root, beside the Makefile

from cfn_flip import load as load_cfn  # noqa: E402
from private_s3_processor.version import __version__  # noqa: E402

import template as templates  # noqa: E402

PROG = "make release"
FUNCTION = "MacroFunction"
# The machine name a compiled module's file name carries for each Lambda architecture
# (e.g. _pydantic_core.cpython-313-x86_64-linux-gnu.so, or ...-aarch64-linux-gnu.so).
MACHINE = {"x86_64": "x86_64", "arm64": "aarch64"}
# 1980-01-01, the earliest time a zip entry can hold: the bytes do not depend on when
# sam build ran.
EPOCH = (1980, 1, 1, 0, 0, 0)


class ReleaseError(Exception):
    """A problem the user can fix; printed as one line."""


def _function(build: Path) -> dict[str, Any]:
    template = build / "template.yaml"
    if not template.is_file():
        raise ReleaseError(f"{template}: no sam build output (run `make build`)")
    try:
        # sam build writes it; cfn-flip reads its short-form tags.
        document, _ = load_cfn(template.read_text(encoding="utf-8"))
        resources = document.get("Resources", {})
    except Exception as exc:  # any parse failure of a file we did not write: one line
        raise ReleaseError(f"{template}: cannot read the built template: {exc}") from exc
    function = resources.get(FUNCTION, {}).get("Properties")
    if not isinstance(function, dict):
        raise ReleaseError(f"{template}: no {FUNCTION} in the built template")
    return function


def architectures(build: Path) -> tuple[Path, list[str]]:
    """The function folder ``sam build`` wrote and the architectures the template offers."""
    function = _function(build)
    folder = build / str(function.get("CodeUri", FUNCTION))
    if not folder.is_dir():
        raise ReleaseError(f"{folder}: the built function folder is missing (run `make build`)")
    offered = function.get("Architectures", ["x86_64"])  # Lambda's default
    unknown = [a for a in offered if a not in MACHINE]
    if unknown:
        raise ReleaseError(f"unknown Lambda architecture {unknown[0]!r} in the built template")
    return folder, list(offered)


def check_architecture(folder: Path, architecture: str) -> None:
    """Every compiled module in the bundle is built for ``architecture``."""
    machine = MACHINE[architecture]
    others = {m for a, m in MACHINE.items() if a != architecture}
    for module in sorted(folder.rglob("*.so")):
        if any(m in module.name for m in others) or (
            "linux" in module.name and machine not in module.name
        ):
            raise ReleaseError(
                f"{module.relative_to(folder)}: compiled for another machine than "
                f"{architecture} ({machine}), which the template offers: run `make build`"
            )


def lock_pins(lock: Path) -> dict[str, str]:
    text = lock.read_text(encoding="utf-8")
    pins = re.findall(r"^([A-Za-z0-9._-]+)==([^\s\\]+)", text, flags=re.MULTILINE)
    return {_normalize(name): version for name, version in pins}


def installed(folder: Path) -> dict[str, str]:
    found = {}
    for info in folder.glob("*.dist-info"):
        name, version = info.name.removesuffix(".dist-info").rsplit("-", 1)
        found[_normalize(name)] = version
    return found


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def check_lock(folder: Path, lock: Path) -> None:
    """The bundle holds exactly the lock's versions: the lock shipped is the one used."""
    if not lock.is_file():
        raise ReleaseError(f"{lock}: no such lock file")
    want, have = lock_pins(lock), installed(folder)
    if want != have:
        diff = sorted(set(want.items()) ^ set(have.items()))
        name, _ = diff[0]
        raise ReleaseError(
            f"the bundle is not built from {lock.name}: {name} is "
            f"{have.get(name, 'missing')} in the bundle, {want.get(name, 'not pinned')} in the "
            "lock (run `make build`)"
        )


def write_zip(folder: Path, target: Path) -> None:
    """The folder as a zip, entries sorted, timestamps fixed, modes kept (Lambda needs
    the files readable), caches left out, as `make bundle` leaves them out."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in files:
            info = zipfile.ZipInfo(str(path.relative_to(folder)), date_time=EPOCH)
            info.external_attr = ((path.stat().st_mode & 0o777) | 0o100000) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes(), compresslevel=9)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def release(build: Path, lock: Path, out: Path) -> Path:
    """Everything checked first, then written to a new folder swapped in at the end:
    a failed release leaves no half-written one."""
    folder, offered = architectures(build)
    for architecture in offered:
        check_architecture(folder, architecture)
    check_lock(folder, lock)
    target = out / __version__
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{__version__}-", dir=out))
    try:
        for architecture in offered:
            write_zip(folder, staging / templates.bundle_name(architecture))
            stackset = templates.stackset_template(architecture).to_yaml(clean_up=True)
            (staging / f"macro-stackset-{architecture}.yaml").write_text(stackset, "utf-8")
        shutil.copyfile(lock, staging / "requirements.txt")
        sums = [f"{sha256(p)}  {p.name}\n" for p in sorted(staging.iterdir())]
        (staging / "SHA256SUMS").write_text("".join(sums), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--build", type=Path, default=ROOT / ".aws-sam" / "build")
    parser.add_argument("--lock", type=Path, default=ROOT / "macros" / "requirements.txt")
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "release")
    args = parser.parse_args(argv)
    try:
        target = release(args.build, args.lock, args.out)
    except (ReleaseError, OSError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    for path in sorted(target.iterdir()):
        print(f"{path}  {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
