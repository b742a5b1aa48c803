"""The matcher kernels: C and the Python/numpy references agree entry for entry, and the
suffix array matches the reference prefix-doubling sort."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgekit.errors import InputError
from edgekit.update import _bsdiff_ref, _engine
from tests.common import needs_native

# small alphabets make long repeats, the matcher's hard case
BYTES = st.one_of(st.binary(max_size=400),
                  st.lists(st.integers(0, 3), max_size=400).map(bytes),
                  st.lists(st.sampled_from([0, 0, 0, 255, 7]), max_size=400).map(bytes))


def _ref_ctrl(old: bytes, new: bytes, sa: np.ndarray) -> np.ndarray:
    return np.array(list(_bsdiff_ref.scan(old, new, sa)), dtype=np.int64).reshape(-1, 4)


def _check_tiling(old: bytes, new: bytes, ctrl: np.ndarray) -> None:
    """Entries tile new in order and read inside old; their streams rebuild new."""
    pos = 0
    for newpos, oldpos, add, copy in ctrl.tolist():
        assert newpos == pos and add >= 0 and copy >= 0
        assert 0 <= oldpos and oldpos + add <= len(old)
        pos += add + copy
    assert pos == len(new)
    diff, extra = _bsdiff_ref.streams(np.frombuffer(old, np.uint8),
                                      np.frombuffer(new, np.uint8), ctrl)
    out, d, e = bytearray(), 0, 0
    for _, oldpos, add, copy in ctrl.tolist():
        o = np.frombuffer(old[oldpos:oldpos + add], np.uint8)
        out += (np.frombuffer(diff[d:d + add], np.uint8) + o).astype(np.uint8).tobytes()
        out += extra[e:e + copy]
        d, e = d + add, e + copy
    assert bytes(out) == new


@given(BYTES)
def test_reference_suffix_array_is_sorted(data):
    sa = _bsdiff_ref.suffix_array(data)
    assert sorted(sa.tolist()) == list(range(len(data)))
    suffixes = [data[i:] for i in sa.tolist()]
    assert suffixes == sorted(suffixes)


@needs_native
@given(BYTES)
def test_suffix_array_matches_reference(data):
    assert np.array_equal(_engine.suffix_array(data), _bsdiff_ref.suffix_array(data))


@given(BYTES, BYTES)
def test_reference_scan_tiles_new(old, new):
    sa = _bsdiff_ref.suffix_array(old)
    _check_tiling(old, new, _ref_ctrl(old, new, sa))


@needs_native
@given(BYTES, BYTES, st.integers(1, 5))
def test_native_scan_equals_reference(old, new, batch):
    new = new + old[len(old) // 3:] + new  # make sure there is something to match
    sa = _engine.suffix_array(old)
    got = list(_engine.scan_batches(old, new, sa, batch=batch))
    assert all(1 <= len(b) <= batch for b in got)
    native = np.concatenate(got) if got else np.zeros((0, 4), np.int64)
    assert np.array_equal(native, _ref_ctrl(old, new, sa))


@needs_native
@given(BYTES, BYTES)
def test_native_streams_equal_reference(old, new):
    sa = _engine.suffix_array(old)
    ctrl = _ref_ctrl(old, new + old, sa)
    if len(ctrl):
        want = _bsdiff_ref.streams(np.frombuffer(old, np.uint8),
                                   np.frombuffer(new + old, np.uint8), ctrl)
        assert _engine.streams(old, new + old, ctrl) == want


@needs_native
def test_long_runs_stay_linear():
    """Zero padding is where a plain bsdiff scan goes quadratic; the skip keeps it fast."""
    import time

    old = b"\0" * 2_000_000 + bytes(range(256)) * 100
    new = b"\1" + b"\0" * 2_000_100 + bytes(range(256)) * 100
    t0 = time.perf_counter()
    ctrl = np.concatenate(list(_engine.scan_batches(old, new, _engine.suffix_array(old))))
    assert time.perf_counter() - t0 < 5.0
    assert int(ctrl[:, 3].sum()) < 1000  # nearly all of it matched


def test_bad_suffix_array_refused():
    with pytest.raises(InputError):
        list(_engine.scan_batches(b"abc", b"abd", np.zeros(2, np.int32)))
