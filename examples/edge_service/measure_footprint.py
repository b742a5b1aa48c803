"""Measure the installed footprint of the service's Python environment, as the Dockerfile
builds it: ``pip wheel`` of this repository (the C kernels compiled), then a fresh venv with
the wheel and the service's extras.  Prints the size of site-packages by distribution (from
each one's RECORD, so shared top-level names are not double counted), with and without
pip/setuptools (which a python:*-slim base image already has) and without bytecode caches
(the Dockerfile deletes them), and the gzip size of a tar of that (how a registry stores an
image layer).

    python examples/edge_service/measure_footprint.py [--extras infer,aio,metrics] [--keep DIR]

Needs network access to a package index (or a local one) for the dependencies.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INSTALLER = {"pip", "setuptools", "wheel"}  # in the base image already

_SIZES = r"""
import json, os, sys
from importlib import metadata
site = [p for p in sys.path if p.endswith("site-packages")][0]
out, pyc = {}, {}
for dist in metadata.distributions(path=[site]):
    total = cached = 0
    for f in dist.files or ():
        p = os.path.join(site, str(f))
        if os.path.isfile(p) and not os.path.islink(p):
            total += os.path.getsize(p)
            if "__pycache__" in str(f):
                cached += os.path.getsize(p)
    out[dist.metadata["Name"]] = total
    pyc[dist.metadata["Name"]] = cached
print(json.dumps({"site": site, "sizes": out, "pyc": pyc}))
"""


def _run(*cmd: str) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def _gzip_size(directory: Path, skip: set[str]) -> int:
    buf = io.BytesIO()
    def no_pyc(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        return None if "__pycache__" in info.name else info

    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=6, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w") as tar:
        for entry in sorted(directory.iterdir()):
            base = entry.name.split("-")[0].split(".")[0].lower()
            if base in skip or entry.name in ("pkg_resources", "_distutils_hack",
                                              "distutils-precedence.pth"):
                continue
            tar.add(entry, arcname=entry.name, filter=no_pyc)
    return len(buf.getvalue())


def measure(extras: str, workdir: Path) -> dict[str, object]:
    wheels = workdir / "wheels"
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT))
    wheel = next(wheels.glob("edgekit-*.whl"))
    venv = workdir / "venv"
    _run(sys.executable, "-m", "venv", str(venv))
    py = str(venv / "bin" / "python")
    _run(py, "-m", "pip", "install", "-q", f"{wheel}[{extras}]" if extras else str(wheel))
    info = json.loads(_run(py, "-c", _SIZES))
    sizes: dict[str, int] = info["sizes"]
    app = {k: v for k, v in sizes.items() if k.lower() not in INSTALLER}
    app_pyc = sum(v for k, v in info["pyc"].items() if k.lower() not in INSTALLER)
    return {"wheel": wheel.name, "wheel_bytes": wheel.stat().st_size, "extras": extras,
            "site_packages_bytes": sum(sizes.values()), "app_bytes": sum(app.values()),
            "app_pyc_bytes": app_pyc,
            "app_gzip_bytes": _gzip_size(Path(info["site"]), INSTALLER | {"pkg_resources"}),
            "by_distribution": dict(sorted(app.items(), key=lambda kv: -kv[1])),
            "python": sys.version.split()[0]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--extras", default="infer,aio,metrics")
    p.add_argument("--keep", default=None, help="work in this directory and keep it")
    p.add_argument("--json", action="store_true", help="print JSON")
    args = p.parse_args(argv)
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        result = measure(args.extras, Path(args.keep))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            result = measure(args.extras, Path(tmp))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    mb = 1e6
    print(f"edgekit[{result['extras']}] on Python {result['python']}, wheel "
          f"{result['wheel']} ({result['wheel_bytes'] / mb:.1f} MB)")
    print(f"site-packages: {result['site_packages_bytes'] / mb:.1f} MB; without "
          f"pip/setuptools: {result['app_bytes'] / mb:.1f} MB "
          f"(of which {result['app_pyc_bytes'] / mb:.1f} MB __pycache__ bytecode; "
          f"tar.gz without bytecode: {result['app_gzip_bytes'] / mb:.1f} MB)")
    for name, size in result["by_distribution"].items():  # type: ignore[union-attr]
        if size >= 0.1 * mb:
            print(f"  {name:24s} {size / mb:7.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
