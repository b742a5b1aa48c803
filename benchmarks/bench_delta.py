"""Delta/zigzag kernels: C against the numpy reference on 1,000,000 values.

``pytest benchmarks/bench_delta.py --benchmark-enable`` prints the absolute times;
the ratio check runs in every test run.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from edgekit import _backend
from edgekit.compress import _delta_ref, delta
from edgekit.data import load_series

N = 1_000_000
needs_native = pytest.mark.skipif(not _backend.is_native(), reason="native backend not loaded")


@pytest.fixture(scope="module")
def values() -> np.ndarray:
    """1,000,000 int64 readings: the Payerne temperature series in tenths of a degree,
    repeated."""
    x = load_series("payerne_temp_C")
    return np.resize(np.rint(x * 10).astype(np.int64), N)


@needs_native
@pytest.mark.parametrize("order", [1, 2])
def test_fused_encode_speedup_over_numpy(ratio, values, order):
    u = values.view(np.uint64)
    out = np.empty_like(u)
    r = ratio(
        f"delta{order}+zigzag encode int64 n=1e6: native vs numpy",
        lambda: delta.delta_zigzag_encode(values, order, out=out),
        lambda: _delta_ref.delta_zigzag_encode(u, order),
        minimum=2.0,
        clock=time.thread_time,
    )
    assert r.ratio >= 2.0


@needs_native
def test_fused_decode_speedup_over_numpy(ratio, values):
    z = delta.delta_zigzag_encode(values, 1)
    out = np.empty_like(values)
    ratio(
        "delta1+zigzag decode int64 n=1e6: native vs numpy",
        lambda: delta.delta_zigzag_decode(z, np.int64, 1, out=out),
        lambda: _delta_ref.delta_zigzag_decode(z, 1),
        minimum=1.5,
        clock=time.thread_time,
    )


@pytest.mark.parametrize("impl", ["native", "reference"])
@pytest.mark.parametrize("kernel", ["delta_zigzag_encode", "delta_zigzag_decode"])
def test_delta_zigzag(benchmark, values, impl, kernel):
    if impl == "native" and not _backend.is_native():
        pytest.skip("native backend not loaded")
    benchmark.group = f"{kernel} int64 n=1e6"
    data = values if kernel.endswith("encode") else delta.delta_zigzag_encode(values, 1)
    if impl == "native":
        fn = (lambda: delta.delta_zigzag_encode(data, 1)) if kernel.endswith("encode") else (
            lambda: delta.delta_zigzag_decode(data, np.int64, 1))
    else:
        fn = lambda: getattr(_delta_ref, kernel)(data.view(np.uint64), 1)  # noqa: E731
    result = benchmark(fn)
    assert result.size == N
