"""Streaming apply holds flat memory: a 24 MB pair of real machine code is applied in a
fresh interpreter and its peak RSS above the interpreter's (after imports and a warm-up
apply) is measured, for a delta patch and for a full one."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from edgekit import _backend
from edgekit.update import PatchOptions, make_patch_file, patch_info
from tests._env import child_env
from tests.update.pairs import edited, real_blob

SIZE = 24_000_000
LIMIT = 16 * 2**20

_CHILD = textwrap.dedent("""
    import json, sys
    from edgekit.update import apply_patch_file, make_patch_file

    def status(field):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024

    old, patch, new, warm = sys.argv[1:5]
    apply_patch_file(warm + ".old", warm + ".patch", warm + ".new")  # imports, codecs
    base = status("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:  # resets VmHWM to the current RSS
        f.write("5")
    info = apply_patch_file(old, patch, new)
    peak = status("VmHWM")
    print(json.dumps({"base": base, "peak": peak, "method": info.method}))
""")


def measure_apply(old, patch, new, tmp) -> dict:
    """Peak RSS (Linux VmHWM, reset just before) of applying ``patch`` in a fresh
    interpreter, above its RSS after a warm-up apply of a tiny patch of the same method
    (bytes)."""
    with open(patch, "rb") as f:
        info = patch_info(f)
    warm = str(tmp / "warm")
    with open(warm + ".old", "wb") as f:
        f.write(b"warm-up " * 5000)
    with open(warm + ".new", "wb") as f:
        f.write(b"warm-up " * 4000 + b"changed")
    make_patch_file(warm + ".old", warm + ".new", warm + ".patch",
                    PatchOptions(level=3, methods=(info.method,), apply_memory=None))
    out = subprocess.run([sys.executable, "-c", _CHILD, str(old), str(patch), str(new), warm],
                         capture_output=True, text=True, check=True, timeout=300,
                         env=child_env())
    r = json.loads(out.stdout)
    r["above"] = r["peak"] - r["base"]
    return r


@pytest.fixture(scope="module")
def big_pair(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("big")
    old = real_blob(SIZE)
    new = edited(old, seed=9, edits=200)
    (tmp / "old").write_bytes(old)
    (tmp / "new").write_bytes(new)
    return tmp


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.skipif(not _backend.is_native(), reason="diffing 24 MB needs the native matcher")
@pytest.mark.parametrize("method", ["delta", "full"])
def test_apply_of_24mb_stays_under_16mb_above_the_interpreter(big_pair, method):
    tmp = big_pair
    patch = tmp / f"{method}.patch"
    info = make_patch_file(tmp / "old", tmp / "new", patch,
                           PatchOptions(level=3, methods=(method,)))
    assert info.method == method and info.new_size >= 20_000_000
    r = measure_apply(tmp / "old", patch, tmp / f"{method}.out", tmp)
    print(f"\napply {method} {info.new_size} B: peak RSS above interpreter "
          f"{r['above'] / 2**20:.1f} MiB")
    assert r["above"] < LIMIT, r
    assert (tmp / f"{method}.out").read_bytes() == (tmp / "new").read_bytes()
