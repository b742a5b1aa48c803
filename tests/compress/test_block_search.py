"""The block search's decisions from a sample (docs/compress/speed.md, "Encode: deciding
from a sample"): ``ekz_split_probe`` gives its numpy reference's choice, the dictionary's
table through the block's own stream is the keys' table, and the table pre-test keeps the
dictionaries that win."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekit.compress import _v2, decode, encode
from edgekit.compress import codec as C
from tests.common import needs_native


@st.composite
def _keys(draw):
    """int64 keys as a block's sample holds them: few distinct ADC counts, a decimal grid
    with repeats, float bits (wide and negative), extremes of int64; 1..5,000 of them."""
    m = draw(st.integers(1, 5000))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    kind = draw(st.sampled_from(["few", "walk", "wide", "extreme", "floats"]))
    if kind == "few":
        k = rng.integers(-draw(st.integers(0, 300)), draw(st.integers(1, 300)), m)
    elif kind == "walk":
        k = np.cumsum(rng.integers(-3, 4, m)) * draw(st.integers(1, 1000))
    elif kind == "wide":
        k = rng.integers(-(2 ** 62), 2 ** 62, m)
    elif kind == "extreme":
        k = rng.choice(np.array([-(2 ** 63), 2 ** 63 - 1, 0, -1, 1], dtype=np.int64), m)
    else:
        x = np.round(rng.normal(20.0, 5.0, m), draw(st.integers(0, 4)))
        k = _v2._keys(x)
    return np.ascontiguousarray(k, dtype=np.int64)


@needs_native
@settings(max_examples=300, deadline=None)
@given(_keys(), st.integers(0, 200_000), st.floats(0.0, 1e7))
def test_split_probe_equals_reference(keys, extra, per_value):
    n = keys.size + extra
    limit = per_value * keys.size / 1000.0
    assert _v2._split_probe(keys, n, limit) == _v2._split_probe_py(keys, n, limit)


@needs_native
def test_split_probe_finds_bins_of_wide_noise():
    """Wide float noise: a split pays on the sample (the search finds a shift, the same as
    the reference's) and the block decodes bit-exact whichever dictionary is chosen."""
    rng = np.random.default_rng(7)
    x = rng.normal(0.0, 1.0, 8192)
    small = _v2._keys(_v2._small(x))
    limit = 64.0 * small.size  # every bins count is below it
    shift = _v2._split_probe(small, x.size, limit)
    assert shift is not None and shift == _v2._split_probe_py(small, x.size, limit)
    assert decode(encode(x)).tobytes() == x.tobytes()


@needs_native
@pytest.mark.parametrize("pre", [1.0, float("inf")])
def test_table_pretest_keeps_winning_dictionaries(monkeypatch, pre):
    """A dictionary that wins (a decimal grid of a few hundred values with repeats) is
    chosen with the table pre-test on and off; a block of distinct values is refused by
    the pre-test before its table is coded."""
    rng = np.random.default_rng(3)
    levels = np.round(rng.uniform(0, 40, 60), 3)
    x = levels[rng.integers(0, 60, 20_000)]  # 60 readings in random order
    monkeypatch.setattr(C, "_T_DICT_PRE", pre)
    calls = []
    real = _v2._dict_bits
    monkeypatch.setattr(_v2, "_dict_bits", lambda *a: calls.append(1) or real(*a))
    fr = encode(x)
    assert decode(fr).tobytes() == x.tobytes()
    assert calls  # the nested estimate ran (the pre-test let the dictionary through)
    assert len(fr) < x.size  # and the dictionary was chosen: under a byte a value


@needs_native
def test_table_pretest_skips_hopeless_table(monkeypatch):
    """Distinct readings on a fine grid (a random walk of a 0.001 step: every value
    distinct, ranks as costly as the values): the pre-test refuses the dictionary before
    the nested coding of its table, and the frame is the one without the pre-test."""
    rng = np.random.default_rng(5)
    x = np.round(np.cumsum(rng.normal(0, 1.0, 20_000)), 3)
    calls = []
    real = _v2._dict_bits
    monkeypatch.setattr(_v2, "_dict_bits", lambda *a: calls.append(1) or real(*a))
    monkeypatch.setattr(C, "_T_DICT_PRE", float("inf"))
    without = encode(x)
    n_without = len(calls)
    monkeypatch.setattr(C, "_T_DICT_PRE", 1.0)
    calls.clear()
    with_pre = encode(x)
    assert with_pre == without
    assert n_without >= 1 and not calls


@st.composite
def _block(draw):
    """A float block whose best coding has no residual stream: decimal readings (negative
    too, float64 or float32) or a few levels in random order; 300..9,000 values."""
    n = draw(st.integers(300, 9000))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    if draw(st.booleans()):
        d = draw(st.integers(0, 2))
        x = np.round(np.cumsum(rng.normal(0, 0.1, n)) - draw(st.floats(-50, 50)), d)
    else:
        x = np.round(rng.uniform(-5, 5, 40), 2)[rng.integers(0, 40, n)]
    return x.astype(draw(st.sampled_from([np.float64, np.float32])))


@settings(max_examples=100, deadline=None)
@given(_block())
def test_block_table_through_the_stream_equals_keys(x):
    """The dictionary's table of a whole block through best's stream j (counted, ranks
    scattered back) is the block's sorted distinct keys, and the ranks are the keys'."""
    cands, _ = C._float_candidates(x, -1.0, 5, x.dtype == np.float64)
    best = min(cands, key=lambda c: c.cost)
    if best.make is not None:
        best = best.make()
    if best.r is not None:
        return
    key = _v2._keys(x)
    got = _v2._stream_table(key, best)
    if got is None:
        assert not _v2._countable(best.j.view(np.int64))
        return
    us, idx = got
    want = _v2._distinct(key)
    assert us.tobytes() == want.tobytes()
    assert idx.tobytes() == _v2.rank(want, key).tobytes()
