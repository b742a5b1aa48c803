"""Build the corpus of real old/new pairs that ``benchmarks/bench_update.py`` measures.

Each pair is two adjacent releases of a package from the package index, fetched with
``pip download --no-deps --only-binary=:all:`` for this interpreter and platform.  From each
pair of wheels it writes three old/new pairs:

* ``<name>.whl``: the wheels as shipped (zip, compressed member by member);
* ``<name>.so``: the package's largest own shared library (vendored ``*.libs/`` excluded);
* ``<name>.tar``: the unpacked tree as an uncompressed, deterministic tar (sorted names,
  mtime/uid/gid zeroed), i.e. what a device holding the unpacked package would diff.

Nothing is committed: the corpus lives in ``$EDGEKIT_UPDATE_CORPUS`` (default
``~/.cache/edgekit/update_corpus``).  The benchmark skips cleanly when it is absent; CI never
downloads.  Usage::

    python tools/update_corpus.py            # fetch and build (needs the package index)
    python tools/update_corpus.py --list     # show what is there
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

# (package, old, new, kind): "same" = built by the same toolchain, "recompiled" = not.
PAIRS: tuple[tuple[str, str, str, str], ...] = (
    ("numpy", "2.1.2", "2.1.3", "same"),
    ("zstandard", "0.22.0", "0.23.0", "same"),
    ("orjson", "3.10.6", "3.10.7", "same"),
    ("msgpack", "1.0.8", "1.1.0", "recompiled"),
    ("PyYAML", "6.0.1", "6.0.2", "recompiled"),
)


def corpus_dir() -> Path:
    env = os.environ.get("EDGEKIT_UPDATE_CORPUS")
    return Path(env) if env else Path.home() / ".cache" / "edgekit" / "update_corpus"


def _download(name: str, version: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    existing = [p for p in dest.glob("*.whl")]
    if not existing:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--only-binary=:all:", "-d", str(dest), f"{name}=={version}"],
            check=True,
        )
        existing = list(dest.glob("*.whl"))
    if len(existing) != 1:
        raise RuntimeError(f"expected one wheel in {dest}, found {existing}")
    return existing[0]


def _tree_tar(wheel: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(wheel) as zf, tarfile.open(fileobj=buf, mode="w",
                                                    format=tarfile.PAX_FORMAT) as tf:
        for name in sorted(zf.namelist()):
            if name.endswith("/"):
                continue
            data = zf.read(name)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _largest_so(wheel: Path) -> tuple[str, bytes]:
    with zipfile.ZipFile(wheel) as zf:
        sos = [i for i in zf.infolist() if ".so" in i.filename.rsplit("/", 1)[-1]]
        # the package's own code, not a vendored library (numpy.libs/ holds OpenBLAS,
        # byte-identical across numpy's patch releases)
        own = [i for i in sos if ".libs/" not in i.filename]
        sos = own or sos
        if not sos:
            raise RuntimeError(f"{wheel.name} holds no shared library")
        best = max(sos, key=lambda i: i.file_size)
        return best.filename, zf.read(best.filename)


def _so_key(path: str) -> str:
    """The library's path without the version-specific parts (.libs hashes differ)."""
    head, _, tail = path.rpartition("/")
    return head.split("-")[0] + "/" + tail.split(".")[0]


def build(root: Path) -> list[dict]:
    index = []
    for name, old, new, kind in PAIRS:
        out = root / "pairs" / f"{name}-{old}-{new}"
        out.mkdir(parents=True, exist_ok=True)
        wheels = {v: _download(name, ver, root / "wheels" / name / ver)
                  for v, ver in (("old", old), ("new", new))}
        for side, wheel in wheels.items():
            (out / f"{side}.whl").write_bytes(wheel.read_bytes())
            (out / f"{side}.tar").write_bytes(_tree_tar(wheel))
        so_old = _largest_so(wheels["old"])
        so_new = _largest_so(wheels["new"])
        if _so_key(so_old[0]) != _so_key(so_new[0]):
            print(f"warning: {name}: largest libraries differ: {so_old[0]} / {so_new[0]}")
        (out / "old.so").write_bytes(so_old[1])
        (out / "new.so").write_bytes(so_new[1])
        entry = {"package": name, "old": old, "new": new, "kind": kind, "dir": out.name,
                 "so": so_new[0]}
        index.append(entry)
        print(f"{name} {old} -> {new} ({kind}): so {len(so_old[1])} -> {len(so_new[1])} B")
    (root / "index.json").write_text(json.dumps(index, indent=1), encoding="utf-8")
    return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="list the corpus, fetch nothing")
    args = parser.parse_args(argv)
    root = corpus_dir()
    if args.list:
        index_file = root / "index.json"
        if not index_file.exists():
            print(f"no corpus at {root}")
            return 1
        for e in json.loads(index_file.read_text(encoding="utf-8")):
            print(e)
        return 0
    build(root)
    print(f"corpus written to {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
