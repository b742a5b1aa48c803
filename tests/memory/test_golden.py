"""Segments written by earlier versions (tests/memory/golden, made by tools/memory_golden.py)
decode bit-exact, and a spill directory holding them reopens: the float32 segments every
store wrote before values kept their dtype, and the float64 ones written since."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edgekit.errors import CorruptDataError, InputError, OptionsError
from edgekit.memory import ReadingStore, _seal_codec, _segment
from edgekit.memory._series import readings

GOLDEN = Path(__file__).parent / "golden"
DTYPES = {"": np.float32, "_float64": np.float64}


def expected(suffix: str):
    t, v, q = (a[:3000] for a in readings("payerne_temp_C"))
    return t, v.astype(DTYPES[suffix]), q


def bits(x: np.ndarray) -> np.ndarray:
    return x.view(np.uint8)


@pytest.mark.parametrize("suffix", DTYPES)
@pytest.mark.parametrize("codec", _seal_codec.CODECS)
def test_golden_segment_decodes_bit_exact(codec, suffix):
    blob = (GOLDEN / f"segment_v1_codec{codec}{suffix}.eks").read_bytes()
    assert blob[_segment.HEADER.size] == codec
    cid, t, v, q = _segment.unpack(blob)
    te, ve, qe = expected(suffix)
    assert cid == 7
    assert np.array_equal(t, te) and np.array_equal(q, qe)
    assert v.dtype == ve.dtype and np.array_equal(bits(v), bits(ve))


@pytest.mark.parametrize("suffix", DTYPES)
@pytest.mark.parametrize("codec", _seal_codec.CODECS)
def test_a_spill_directory_of_a_golden_segment_reopens(tmp_path, codec, suffix):
    shutil.copy(GOLDEN / f"segment_v1_codec{codec}{suffix}.eks", tmp_path / "seg-000000000004.eks")
    te, ve, qe = expected(suffix)
    with ReadingStore(policy="spill", spill_dir=tmp_path) as s:
        assert s.channels == (7,) and len(s) == 3000
        assert s.channel(7).value_dtype == ve.dtype  # the channel keeps its segments' dtype
        r = s.query(channel=7)
        assert r.values.dtype == ve.dtype and np.array_equal(bits(r.values), bits(ve))
        assert np.array_equal(r.timestamps_ns, te) and np.array_equal(r.qualities, qe)
        s.append(int(te[-1]) + 60 * 10**9, 1.0, channel=7)  # and it carries on
        if ve.dtype == np.float32:  # never rounding a float64 into the old float32 channel
            with pytest.raises(InputError, match="never rounds"):
                s.append(int(te[-1]) + 120 * 10**9, 0.1, channel=7)
    assert sorted(p.name for p in tmp_path.glob("seg-*.eks")) == [
        "seg-000000000004.eks", "seg-000000000005.eks"]
    other = "float64" if ve.dtype == np.float32 else "float32"
    with pytest.raises(OptionsError, match=other):  # an explicit dtype must match the files
        ReadingStore(policy="spill", spill_dir=tmp_path, value_dtype=other)
    with ReadingStore(policy="spill", spill_dir=tmp_path, value_dtype=ve.dtype) as s:
        assert len(s) == 3001


def test_overlapping_segments_in_a_directory_are_refused(tmp_path):
    for i, codec in enumerate(_seal_codec.CODECS):
        shutil.copy(GOLDEN / f"segment_v1_codec{codec}.eks", tmp_path / f"seg-{i:012d}.eks")
    with pytest.raises(CorruptDataError, match="overlap"):
        ReadingStore(policy="spill", spill_dir=tmp_path)


def test_one_channel_in_two_dtypes_is_refused(tmp_path):
    shutil.copy(GOLDEN / "segment_v1_codec1.eks", tmp_path / "seg-000000000001.eks")
    shutil.copy(GOLDEN / "segment_v1_codec2_float64.eks", tmp_path / "seg-000000000002.eks")
    with pytest.raises(CorruptDataError, match="both"):
        ReadingStore(policy="spill", spill_dir=tmp_path)
