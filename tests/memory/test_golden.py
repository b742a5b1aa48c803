"""Segments written by earlier versions (tests/memory/golden, made by tools/memory_golden.py)
decode bit-exact, and a spill directory holding them reopens."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgekit.errors import CorruptDataError
from edgekit.memory import ReadingStore, _seal_codec, _segment
from edgekit.memory._series import readings

GOLDEN = Path(__file__).parent / "golden"


def expected():
    t, v, q = (a[:3000] for a in readings("payerne_temp_C"))
    return t, v.astype(np.float32), q


@pytest.mark.parametrize("codec", _seal_codec.CODECS)
def test_golden_segment_decodes_bit_exact(codec):
    blob = (GOLDEN / f"segment_v1_codec{codec}.eks").read_bytes()
    assert blob[_segment.HEADER.size] == codec
    cid, t, v, q = _segment.unpack(blob)
    te, ve, qe = expected()
    assert cid == 7
    assert np.array_equal(t, te) and np.array_equal(q, qe)
    assert np.array_equal(v.view(np.uint32), ve.view(np.uint32))


@pytest.mark.parametrize("codec", _seal_codec.CODECS)
def test_a_spill_directory_of_a_golden_segment_reopens(tmp_path, codec):
    shutil.copy(GOLDEN / f"segment_v1_codec{codec}.eks", tmp_path / "seg-000000000004.eks")
    with ReadingStore(policy="spill", spill_dir=tmp_path) as s:
        assert s.channels == (7,) and len(s) == 3000
        r = s.query(channel=7)
        te, ve, qe = expected()
        assert np.array_equal(r.timestamps_ns, te) and np.array_equal(r.values, ve)
        s.append(int(te[-1]) + 60 * 10**9, 1.0, channel=7)  # and it carries on
    assert sorted(p.name for p in tmp_path.glob("seg-*.eks")) == [
        "seg-000000000004.eks", "seg-000000000005.eks"]


def test_overlapping_segments_in_a_directory_are_refused(tmp_path):
    for i, codec in enumerate(_seal_codec.CODECS):
        shutil.copy(GOLDEN / f"segment_v1_codec{codec}.eks", tmp_path / f"seg-{i:012d}.eks")
    with pytest.raises(CorruptDataError, match="overlap"):
        ReadingStore(policy="spill", spill_dir=tmp_path)
