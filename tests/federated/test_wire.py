"""The wire format: arrays round-trip exactly, and damaged bytes are refused."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekit.errors import CorruptDataError
from edgekit.federated._wire import pack_arrays, unpack_arrays


def _arrays() -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.normal(size=(64, 10)).astype(np.float32), rng.normal(size=10),
            np.arange(7, dtype=np.int32), np.zeros((0, 3), np.float32), np.float32(2.5)[()]]


def test_round_trip_keeps_dtype_shape_and_bits():
    arrays = _arrays()
    data = pack_arrays(arrays)
    back, codec = unpack_arrays(data)
    assert codec == 0
    assert len(back) == len(arrays)
    for a, b in zip(arrays, back, strict=True):
        a = np.asarray(a)
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()
    # the size is the payload plus a small fixed header per array
    assert len(data) - sum(np.asarray(a).nbytes for a in arrays) < 16 + 12 * len(arrays) + 8


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_damaged_bytes_are_refused(data):
    good = pack_arrays(_arrays())
    kind = data.draw(st.sampled_from(["truncate", "flip", "random"]))
    if kind == "truncate":
        bad = good[: data.draw(st.integers(0, len(good) - 1))]
    elif kind == "flip":
        i = data.draw(st.integers(0, len(good) - 1))
        bad = good[:i] + bytes([good[i] ^ (1 << data.draw(st.integers(0, 7)))]) + good[i + 1:]
    else:
        bad = data.draw(st.binary(max_size=200))
    with pytest.raises(CorruptDataError):
        unpack_arrays(bad)
