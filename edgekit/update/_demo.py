"""``edgekit demo`` section: a delta patch of real machine code, and a signed directory
update installed atomically."""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TextIO

import numpy as np

from edgekit._demo import DemoRow


def _code(size: int) -> bytes:
    """``size`` bytes of numpy's largest shared library: real machine code on any machine."""
    files = sorted(glob.glob(os.path.join(os.path.dirname(np.__file__), "**", "*.so"),
                             recursive=True), key=os.path.getsize, reverse=True)
    with open(files[0], "rb") as f:
        data = f.read(size)
    return data * (size // max(len(data), 1) + 1) if len(data) < size else data


def _rebuild(old: bytes, rng: np.random.Generator) -> bytes:
    """What a small source change does to a binary: code inserted (everything after moves)
    and some addresses rewritten."""
    b = bytearray(old)
    idx = rng.choice(len(b) // 4, size=len(b) // 1000, replace=False) * 4
    for i in idx.tolist():
        b[i:i + 4] = rng.bytes(4)
    for _ in range(20):
        at = int(rng.integers(0, len(b)))
        b[at:at] = rng.bytes(int(rng.integers(8, 120)))
    return bytes(b)


def run(out: TextIO) -> list[DemoRow]:
    from edgekit.secure import generate_key
    from edgekit.update import (
        Installer,
        PatchOptions,
        apply_patch,
        build_update,
        make_patch,
        patch_info,
    )
    from edgekit.update.tree import scan_tree

    rng = np.random.default_rng(0)
    old = _code(2_000_000)
    new = _rebuild(old, rng)
    t0 = time.perf_counter()
    patch = make_patch(old, new, PatchOptions(level=12))
    t_make = time.perf_counter() - t0
    t0 = time.perf_counter()
    assert apply_patch(old, patch) == new
    t_apply = time.perf_counter() - t0
    info = patch_info(patch)
    full = make_patch(old, new, PatchOptions(level=12, methods=("full",)))
    saving = 100 * (1 - len(patch) / len(full))
    print(f"  {len(new):,} B of machine code, rebuilt (20 insertions, 0.1% of words "
          f"rewritten): {info.method} patch {len(patch):,} B = {100 * len(patch) / len(new):.2f}"
          f"% of the file, {saving:.0f}% smaller than the compressed file ({len(full):,} B)",
          file=out)
    print(f"  make {t_make:.2f} s, apply {t_apply:.3f} s, SHA-256 checked", file=out)

    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        for side, blob in (("v1", old), ("v2", new)):
            (t / side / "lib").mkdir(parents=True)
            (t / side / "lib" / "model.so").write_bytes(blob)
            (t / side / "VERSION").write_text(side + "\n")
        key = generate_key("ed25519")
        bundle = build_update(t / "v1", t / "v2", t / "out", name="demo", base_version="1.0",
                              version="2.0", keys=key,
                              expires=datetime.now(timezone.utc) + timedelta(days=7),
                              options=PatchOptions(level=12))
        dev = Installer(t / "device", "demo", key.public_key())
        dev.bootstrap(t / "v1", "1.0")
        res = dev.install(bundle.manifest.read_bytes(), bundle.patch)
        ok = scan_tree(dev.root / "current") == scan_tree(t / "v2")
        print(f"  signed tree update 1.0 -> {res.version}: {bundle.patch_size:,} B shipped for "
              f"{bundle.new_size:,} B installed, switched atomically, tree exact: {ok}",
              file=out)
        shutil.rmtree(t / "device")
    return [DemoRow("delta patch of rebuilt machine code",
                    f"{saving:.0f}% smaller than the compressed file",
                    "70-90% smaller (no algorithm given)")]
