"""The diff stream's sparse form: varints and zero runs round-trip for any split of the
input and any read sizes; damaged gap streams are refused."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgekit.errors import UpdateDataError
from edgekit.update import PatchOptions, make_patch
from edgekit.update import patch as P
from edgekit.update._sparse import SparseEncoder, SparseReader, varint_decode, varint_encode
from tests.update.pairs import edited, real_blob


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._f = io.BytesIO(data)

    def read(self, n: int) -> bytes:
        return self._f.read(n)


@given(st.lists(st.integers(0, 2**64 - 1), max_size=200), st.integers(0, 30))
def test_varints_round_trip(values, cut):
    v = np.array(values, dtype=np.uint64)
    enc = varint_encode(v)
    got, tail = varint_decode(enc)
    assert got.tolist() == values and tail == b""
    cut = min(cut, len(enc))
    head, tail = varint_decode(enc[:cut])
    again, rest = varint_decode(tail + enc[cut:])
    assert head.tolist() + again.tolist() == values and rest == b""


@given(st.lists(st.one_of(st.just(0), st.integers(0, 255)), max_size=1200).map(bytes),
       st.lists(st.integers(0, 1200), max_size=5), st.integers(2, 64), st.data())
def test_sparse_round_trip(diff, cuts, block, data):
    gaps, values = [], []
    enc = SparseEncoder(gaps.append, values.append)
    bounds = sorted(min(c, len(diff)) for c in cuts)
    for a, b in zip([0, *bounds], [*bounds, len(diff)], strict=True):
        enc.feed(diff[a:b])
    reader = SparseReader(_Reader(b"".join(gaps)), _Reader(b"".join(values)))
    reader.BLOCK = block
    reads = sorted(data.draw(st.lists(st.integers(0, len(diff)), max_size=8), label="reads"))
    out = b"".join(reader.exact(b - a)
                   for a, b in zip([0, *reads], [*reads, len(diff)], strict=True))
    assert out == diff
    assert reader.at_end()


def test_sparse_refuses_damage():
    with pytest.raises(UpdateDataError):
        SparseReader(_Reader(b"\x80" * 11), _Reader(b"")).exact(5)  # endless varint
    with pytest.raises(UpdateDataError):
        SparseReader(_Reader(b"\x01"), _Reader(b"")).exact(5)  # value missing
    with pytest.raises(UpdateDataError):
        SparseReader(_Reader(b"\x01"), _Reader(b"\x00")).exact(5)  # zero as a value
    with pytest.raises(UpdateDataError):
        SparseReader(_Reader(varint_encode(np.array([2**50], np.uint64))),
                     _Reader(b"\x01")).exact(5)  # a gap longer than any file
    r = SparseReader(_Reader(b"\x01"), _Reader(b"\x07\x08"))
    assert r.exact(2) == b"\x00\x07"
    assert not r.at_end()  # a value is left over


def test_delta_of_an_edited_binary_uses_the_sparse_diff():
    old = real_blob(120_000)
    new = edited(old, seed=3, edits=6)
    patch = make_patch(old, new, PatchOptions(level=9, methods=("delta",)))
    hdr = P._parse(patch[:P.HEADER_SIZE], len(patch))
    assert hdr.codecs[1] == P._SPARSE
