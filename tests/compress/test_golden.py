"""Golden frames: every format version's files, written once by tools/compress_golden.py,
decode bit for bit with this edgekit (dtype, shape, layout, every byte)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgekit.compress import FORMAT_VERSION, decode, decode_series, iter_frames
from edgekit.compress.codec import SUPPORTED_VERSIONS

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
CASES = sorted(GOLDEN.glob("v*/*.ekz"))


def test_golden_files_exist_for_every_version():
    names = {p.parent.name for p in CASES}
    assert {f"v{v}" for v in SUPPORTED_VERSIONS} <= names
    assert f"v{FORMAT_VERSION}" in names
    assert len([p for p in CASES if p.parent.name == "v1"]) >= 20
    # version 2 adds models: its cases are the frames that use them, from real series
    assert len([p for p in CASES if p.parent.name == "v2"]) >= 10
    for p in CASES:
        if not p.stem.startswith("record_"):
            assert p.read_bytes()[4] == int(p.parent.name[1:]), p.name


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_golden_frame_decodes_bit_exact(path):
    blob = path.read_bytes()
    want = np.load(path.with_suffix(".npy"), allow_pickle=False)
    if path.stem.startswith("record_"):
        ts, got = decode_series(blob)
        want_ts = np.load(path.with_name(path.stem + ".ts.npy"), allow_pickle=False)
        assert ts.dtype == want_ts.dtype and ts.tobytes() == want_ts.tobytes()
    else:
        got = decode(blob)
        info = next(iter_frames(blob))
        assert info.lossy == ("lossy" in path.stem)
    assert got.dtype == want.dtype
    assert got.shape == want.shape
    assert got.tobytes(order="A") == want.tobytes(order="A")
    if want.ndim > 1:
        assert got.flags.f_contiguous == want.flags.f_contiguous
