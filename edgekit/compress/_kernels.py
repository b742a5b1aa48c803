"""Dispatch of the block-codec kernels: C (``_native/compress.c``) or the numpy references
(``_codec_ref``).  Callers hand in validated, C-contiguous arrays of the right dtype; a
kernel's EINVAL/ENOSPC status is a bug here (raised as RuntimeError), ECORRUPT is the
caller's to turn into :class:`~edgekit.errors.CorruptDataError`."""

from __future__ import annotations

import threading

import numpy as np

from edgekit import _backend
from edgekit.compress import _codec_ref as ref

OK, EINVAL, ECORRUPT, ENOSPC = ref.OK, ref.EINVAL, ref.ECORRUPT, ref.ENOSPC


_TLS = threading.local()


def scratch(name: str, n: int, dtype: type | np.dtype) -> np.ndarray:
    """A per-thread reusable work array of n items (contents undefined).  Reusing work
    memory matters: touching freshly mapped pages costs more than the kernels themselves.
    Never hand a scratch array (or a view of one) to the user."""
    dt = np.dtype(dtype)
    nbytes = max(n * dt.itemsize, 8)
    buf = getattr(_TLS, name, None)
    if buf is None or buf.size < nbytes:
        buf = np.empty(nbytes, dtype=np.uint8)
        setattr(_TLS, name, buf)
    return buf[:nbytes].view(dt)[:n]


def _ptr(ffi, ctype: str, arr: np.ndarray):
    return ffi.cast(ctype, arr.ctypes.data)


def hist3(j: np.ndarray) -> np.ndarray:
    lib = _backend.lib
    if lib is None:
        return ref.hist3(j)
    ffi = _backend.ffi
    h = np.zeros(768, dtype=np.uint32)
    lib.ekz_hist3(_ptr(ffi, "uint64_t *", j), j.size, _ptr(ffi, "uint32_t *", h))
    return h


def encode(j: np.ndarray, order: int, freq: np.ndarray, single: int, cap: int) -> bytes:
    """bits + words of the entropy-coded stream (freq: uint16[256])."""
    lib = _backend.lib
    if lib is None:
        status, out = ref.encode(j, order, freq, single)
        if status != OK:
            raise RuntimeError(f"entropy encode failed with status {status}")
        return out
    ffi = _backend.ffi
    tok = scratch("tok", j.size, np.uint8)
    buf = scratch("enc", cap, np.uint8)
    lens = ffi.new("size_t[2]")
    status = lib.ekz_encode(_ptr(ffi, "uint64_t *", j), j.size, order,
                            _ptr(ffi, "uint16_t *", freq), single,
                            _ptr(ffi, "uint8_t *", tok), _ptr(ffi, "uint8_t *", buf), cap, lens)
    if status != OK:
        raise RuntimeError(f"ekz_encode returned status {status}")
    return buf[: lens[0] + lens[1]].tobytes()


def decode(words: bytes, bits: bytes, freq: np.ndarray, single: int, order: int,
           n: int, first: list[int], slot: str = "j") -> np.ndarray | None:
    """The int64 array j (as uint64, in scratch ``slot``), or None when the stream is
    corrupt; ``first`` holds the stored j[:order]."""
    lib = _backend.lib
    if lib is None:
        status, j = ref.decode(words, bits, freq, single, order, n, first)
        return j if status == OK else None
    ffi = _backend.ffi
    j = scratch(slot, n, np.uint64)
    j[: min(order, n)] = first[: min(order, n)]
    status = lib.ekz_decode(ffi.from_buffer(words), len(words), ffi.from_buffer(bits),
                            len(bits), _ptr(ffi, "uint16_t *", freq), single, order,
                            _ptr(ffi, "uint64_t *", j), n)
    if status == ECORRUPT:
        return None
    if status != OK:
        raise RuntimeError(f"ekz_decode returned status {status}")
    return j


def gcd(j: np.ndarray) -> int:
    lib = _backend.lib
    if lib is None:
        return ref.gcd(j)
    return int(lib.ekz_gcd(_backend.ffi.cast("uint64_t *", j.ctypes.data), j.size))


def find_decimals(x: np.ndarray, sample: int, maxd: int) -> int:
    lib = _backend.lib
    if lib is None:
        return ref.find_decimals(x, sample, maxd)
    ffi = _backend.ffi
    if x.dtype == np.float64:
        return int(lib.ekz_find_decimals_f64(_ptr(ffi, "double *", x), x.size, sample, maxd))
    return int(lib.ekz_find_decimals_f32(_ptr(ffi, "float *", x), x.size, sample, maxd))


def quant(x: np.ndarray, mode: int, p: float, a: float, b: float,
          tol: float, slot: str = "q") -> tuple[np.ndarray, np.ndarray, int]:
    """(k, r, number of nonzero r) for float32/float64 x (k, r in scratch ``slot``)."""
    lib = _backend.lib
    if lib is None:
        return ref.quant(x, mode, p, a, b, tol)
    ffi = _backend.ffi
    k = scratch(slot + "k", x.size, np.int64)
    r = scratch(slot + "r", x.size, np.int64)
    nz = ffi.new("size_t *")
    fn, ctype = ((lib.ekz_quant_f64, "double *") if x.dtype == np.float64
                 else (lib.ekz_quant_f32, "float *"))
    status = fn(_ptr(ffi, ctype, x), x.size, mode, p, a, b, tol, _ptr(ffi, "int64_t *", k),
                _ptr(ffi, "int64_t *", r), nz)
    if status != OK:
        raise RuntimeError(f"ekz_quant returned status {status}")
    return k, r, int(nz[0])


def dequant(j: np.ndarray, r: np.ndarray | None, mode: int, p: float, a: float, b: float,
            g: int, off: int, dtype: np.dtype, out: np.ndarray) -> np.ndarray:
    """Writes into ``out`` (C-contiguous, dtype, len(j)) and returns it."""
    lib = _backend.lib
    if lib is None:
        out[...] = ref.dequant(j, r, mode, p, a, b, g, off, dtype)
        return out
    ffi = _backend.ffi
    fn, ctype = ((lib.ekz_dequant_f64, "double *") if dtype == np.float64
                 else (lib.ekz_dequant_f32, "float *"))
    rp = ffi.NULL if r is None else _ptr(ffi, "int64_t *", r)
    status = fn(_ptr(ffi, "uint64_t *", j), rp, j.size, mode, p, a, b, g, off,
                _ptr(ffi, ctype, out))
    if status != OK:
        raise RuntimeError(f"ekz_dequant returned status {status}")
    return out
