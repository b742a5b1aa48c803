"""Helpers shared by the test modules."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgekit import _backend
from edgekit._validate import INTEGER_DTYPES

needs_native = pytest.mark.skipif(
    not _backend.is_native(), reason=f"native backend not loaded ({_backend.NAME})"
)


def integer_arrays(dtypes=INTEGER_DTYPES, max_size: int = 300) -> st.SearchStrategy[np.ndarray]:
    """1-D integer arrays of any listed dtype over the dtype's full range, extremes included,
    sometimes as a strided (non-contiguous) or byte-swapped view."""

    @st.composite
    def build(draw):
        dtype = np.dtype(draw(st.sampled_from(list(dtypes))))
        info = np.iinfo(dtype)
        elements = st.one_of(
            st.integers(int(info.min), int(info.max)),
            st.sampled_from([int(info.min), int(info.max), 0, 1, -1 if info.min < 0 else 2]),
            st.integers(-3, 3).map(lambda v: max(int(info.min), v)),
        )
        arr = draw(hnp.arrays(dtype, st.integers(0, max_size), elements=elements))
        layout = draw(st.sampled_from(["contiguous", "strided", "swapped"]))
        if layout == "strided":
            wide = np.zeros(arr.size * 2, dtype=dtype)
            wide[::2] = arr
            arr = wide[::2]
        elif layout == "swapped" and dtype.itemsize > 1:
            arr = arr.astype(dtype.newbyteorder())
        return arr

    return build()


def mutations(blob: bytes, rng: np.random.Generator, flips: int = 200) -> Iterator[bytes]:
    """Damaged versions of ``blob``: every truncation length up to 64 bytes and a sample
    beyond, single bit flips at random places, and random bytes of the same length."""
    n = len(blob)
    cuts = set(range(min(n, 64))) | set(rng.integers(0, max(n, 1), size=64).tolist())
    for cut in sorted(cuts):
        if cut < n:
            yield blob[:cut]
    for _ in range(flips):
        if n == 0:
            break
        pos = int(rng.integers(0, n))
        flipped = bytearray(blob)
        flipped[pos] ^= 1 << int(rng.integers(0, 8))
        yield bytes(flipped)
    for _ in range(20):
        yield rng.bytes(n)


def assert_only_raises(decode: Callable[[bytes], object], blobs, error: type[Exception]) -> int:
    """Call ``decode`` on each blob: it may succeed or raise ``error``; any other exception
    fails the test.  Returns how many raised."""
    raised = 0
    for blob in blobs:
        try:
            decode(blob)
        except error:
            raised += 1
    return raised
