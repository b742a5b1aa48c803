"""Old/new pairs available offline: real shared libraries from the installed numpy, edited
the way a new build edits them (code inserted and removed so everything after shifts,
addresses rewritten, a block of new code), and generated data."""

from __future__ import annotations

import glob
import os

import numpy as np


def real_blob(min_size: int) -> bytes:
    """At least ``min_size`` bytes of real machine code: numpy's shared libraries, largest
    first, concatenated."""
    root = os.path.dirname(np.__file__)
    files = sorted(glob.glob(os.path.join(root, "**", "*.so"), recursive=True),
                   key=os.path.getsize, reverse=True)
    files += sorted(glob.glob(os.path.join(root, os.pardir, "numpy.libs", "*.so*")),
                    key=os.path.getsize, reverse=True)
    out = bytearray()
    for f in files:
        with open(f, "rb") as fh:
            out += fh.read()
        if len(out) >= min_size:
            break
    if len(out) < min_size:  # a tiny numpy build: repeat with a twist
        base = bytes(out)
        k = 0
        while len(out) < min_size:
            k += 1
            out += bytes(b ^ k for b in base[: min_size - len(out)])
    return bytes(out[:min_size])


def edited(old: bytes, seed: int = 0, edits: int = 40, rewrite: float = 0.002) -> bytes:
    """``old`` as a new build might make it: ``edits`` insertions/deletions of up to 200
    bytes, ``rewrite`` of the 4-byte words changed (addresses), and 2 KB of new code."""
    rng = np.random.default_rng(seed)
    b = bytearray(old)
    n_words = len(b) // 4
    if n_words:
        idx = rng.choice(n_words, size=int(n_words * rewrite), replace=False) * 4
        arr = np.frombuffer(b, dtype=np.uint8).copy()
        for k in range(4):
            arr[idx + k] = rng.integers(0, 256, size=idx.size, dtype=np.uint8)
        b = bytearray(arr.tobytes())
    for _ in range(edits):
        if not b:
            break
        at = int(rng.integers(0, len(b)))
        if rng.random() < 0.5:
            b[at:at] = rng.bytes(int(rng.integers(1, 200)))
        else:
            del b[at:at + int(rng.integers(1, 200))]
    at = int(rng.integers(0, len(b) + 1))
    b[at:at] = old[: min(2048, len(old))][::-1]
    return bytes(b)


def make_trees(tmp: os.PathLike[str] | str) -> tuple[str, str]:
    """An old and a new tree from numpy.random's installed files (sources, stubs, two
    shared libraries): the new one edits a library and a source, removes one file, adds
    one, renames one, changes a mode and adds an empty directory.  Returns (old, new)."""
    import shutil
    from pathlib import Path

    src = Path(np.__file__).parent / "random"
    tmp = Path(tmp)
    old, new = tmp / "old", tmp / "new"
    keep_so = ("_common.", "_mt19937.")
    for f in sorted(src.iterdir()):
        if f.is_file() and (not f.name.endswith(".so") or f.name.startswith(keep_so)):
            (old / "random").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, old / "random" / f.name)
    (old / "bin").mkdir()
    (old / "bin" / "run.sh").write_text("#!/bin/sh\necho v1\n")
    (old / "bin" / "run.sh").chmod(0o755)
    (old / "VERSION").write_text("1.0.0\n")
    shutil.copytree(old, new)
    so = next((new / "random").glob("_common.*so"))
    so.write_bytes(edited(so.read_bytes(), seed=5, edits=8))
    py = new / "random" / "__init__.py"
    py.write_text(py.read_text().replace("import", "import  ", 3) + "\n# v2\n")
    (new / "random" / "_pickle.pyi").unlink()
    (new / "random" / "extra.txt").write_text("new in 2.0\n" * 50)
    (new / "random" / "LICENSE.md").rename(new / "LICENSE.md")
    (new / "bin" / "run.sh").chmod(0o700)
    (new / "empty").mkdir()
    (new / "VERSION").write_text("2.0.0\n")
    return str(old), str(new)
