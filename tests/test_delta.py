"""The delta/zigzag kernels: native and numpy reference agree bit for bit, both match an
independent definition, and the wrappers refuse bad input before any C call."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgekit import _backend
from edgekit.compress import _delta_ref, delta
from edgekit.errors import InputError, InputTypeError
from tests.common import integer_arrays, needs_native

ORDERS = st.integers(0, 2)


def _native(kernel: str, u: np.ndarray, order: int) -> np.ndarray:
    """Call the C kernel directly on an unsigned contiguous array."""
    out = np.empty_like(u)
    delta._run(kernel, lambda *a: pytest.fail("reference called"), u, out, order)
    return out


def _definition_delta(x: np.ndarray, order: int) -> np.ndarray:
    """Independent definition: numpy's own np.diff with a zero prepended, order times."""
    for _ in range(order):
        x = np.diff(x, prepend=x.dtype.type(0)) if x.size else x.copy()
    return x


def _definition_zigzag(x: np.ndarray) -> np.ndarray:
    """Independent definition in Python integers."""
    bits = x.dtype.itemsize * 8
    signed = x.view(f"i{x.dtype.itemsize}")
    codes = [(2 * v if v >= 0 else -2 * v - 1) for v in signed.tolist()]
    return np.array(codes, dtype=f"u{x.dtype.itemsize}").reshape(x.shape) if bits else None


@given(integer_arrays(), ORDERS)
def test_reference_matches_definition(x, order):
    x = np.ascontiguousarray(x, dtype=x.dtype.newbyteorder("="))
    u = x.view(f"u{x.dtype.itemsize}")
    expected = _definition_delta(x, order).view(u.dtype)
    assert np.array_equal(_delta_ref.delta_encode(u, order), expected)
    assert np.array_equal(_delta_ref.zigzag_encode(u), _definition_zigzag(u))


@needs_native
@given(integer_arrays(), ORDERS)
def test_native_matches_reference(x, order):
    x = np.ascontiguousarray(x, dtype=x.dtype.newbyteorder("="))
    u = x.view(f"u{x.dtype.itemsize}")
    for kernel in ("delta_encode", "delta_decode", "delta_zigzag_encode", "delta_zigzag_decode"):
        ref = getattr(_delta_ref, kernel)(u, order)
        assert np.array_equal(_native(kernel, u, order), ref), kernel


@given(integer_arrays(), ORDERS)
def test_round_trip_every_dtype(x, order):
    d = delta.delta_encode(x, order)
    assert d.dtype == x.dtype.newbyteorder("=")
    assert np.array_equal(delta.delta_decode(d, order), x)
    z = delta.delta_zigzag_encode(x, order)
    assert z.dtype.kind == "u" and z.dtype.itemsize == x.dtype.itemsize
    assert np.array_equal(delta.delta_zigzag_decode(z, x.dtype.newbyteorder("="), order), x)
    if x.dtype.kind == "i":
        assert np.array_equal(delta.zigzag_decode(delta.zigzag_encode(x)), x)


def test_known_values():
    x = np.array([5, 7, 6, 6, 10], dtype=np.int16)
    assert delta.delta_encode(x).tolist() == [5, 2, -1, 0, 4]
    assert delta.delta_encode(x, 2).tolist() == [5, -3, -3, 1, 4]
    assert delta.zigzag_encode(np.array([0, -1, 1, -2, 2], np.int8)).tolist() == [0, 1, 2, 3, 4]
    ramp = np.arange(100, 200, 3, dtype=np.int64)
    assert set(delta.delta_encode(ramp, 2)[2:].tolist()) == {0}


def test_wraps_like_numpy_at_extremes():
    x = np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max, 0], dtype=np.int64)
    with np.errstate(over="ignore"):
        assert np.array_equal(delta.delta_encode(x), np.diff(x, prepend=np.int64(0)))
    assert np.array_equal(delta.delta_decode(delta.delta_encode(x)), x)
    u = np.array([0, 255, 1], dtype=np.uint8)
    assert delta.delta_encode(u).tolist() == [0, 255, 2]


def test_empty_and_single():
    for dtype in ("int8", "uint64"):
        e = np.array([], dtype=dtype)
        assert delta.delta_zigzag_encode(e, 2).size == 0
        one = np.array([3], dtype=dtype)
        assert np.array_equal(delta.delta_zigzag_decode(delta.delta_zigzag_encode(one, 2),
                                                        dtype, 2), one)


def test_out_argument_is_used_and_checked():
    x = np.arange(10, dtype=np.int32)
    out = np.empty(10, dtype=np.uint32)
    assert delta.delta_zigzag_encode(x, out=out) is out
    with pytest.raises(InputTypeError):
        delta.delta_zigzag_encode(x, out=np.empty(10, dtype=np.int32))
    with pytest.raises(InputError):
        delta.delta_zigzag_encode(x, out=np.empty(9, dtype=np.uint32))
    with pytest.raises(InputError):
        delta.delta_zigzag_encode(x, out=np.empty(20, dtype=np.uint32)[::2])
    ro = np.empty(10, dtype=np.uint32)
    ro.flags.writeable = False
    with pytest.raises(InputError):
        delta.delta_zigzag_encode(x, out=ro)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: delta.delta_encode(np.zeros(4, np.float64)), InputTypeError),
        (lambda: delta.delta_encode(np.zeros(4, bool)), InputTypeError),
        (lambda: delta.delta_encode([1, 2, 3]), InputTypeError),
        (lambda: delta.delta_encode(np.zeros((2, 2), np.int32)), InputError),
        (lambda: delta.delta_encode(np.int32(3)), InputTypeError),
        (lambda: delta.delta_encode(np.zeros(4, np.int32), 3), InputError),
        (lambda: delta.delta_encode(np.zeros(4, np.int32), -1), InputError),
        (lambda: delta.delta_encode(np.zeros(4, np.int32), 1.0), InputTypeError),
        (lambda: delta.delta_zigzag_decode(np.zeros(4, np.int32), np.int32), InputTypeError),
        (lambda: delta.delta_zigzag_decode(np.zeros(4, np.uint32), np.int64), InputError),
        (lambda: delta.delta_zigzag_decode(np.zeros(4, np.uint32), np.float32), InputTypeError),
        (lambda: delta.delta_zigzag_decode(np.zeros(4, np.uint32), "nonsense"), InputTypeError),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(call, error):
    with pytest.raises(error) as info:
        call()
    assert isinstance(info.value, (TypeError, ValueError))
    assert str(info.value)


def test_errors_are_builtin_subclasses():
    assert issubclass(InputTypeError, TypeError) and issubclass(InputError, ValueError)


def test_backend_is_reported():
    assert _backend.NAME in ("native", "reference")
    assert (_backend.lib is not None) == (_backend.NAME == "native")
