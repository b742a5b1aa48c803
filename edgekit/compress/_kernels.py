"""Dispatch of the block-codec kernels: C (``_native/compress.c``) or the numpy references
(``_codec_ref``).  Callers hand in validated, C-contiguous arrays of the right dtype; a
kernel's EINVAL/ENOSPC status is a bug here (raised as RuntimeError), ECORRUPT is the
caller's to turn into :class:`~edgekit.errors.CorruptDataError`."""

from __future__ import annotations

import threading
import zlib

import numpy as np

from edgekit import _backend
from edgekit.compress import _codec_ref as ref

OK, EINVAL, ECORRUPT, ENOSPC = ref.OK, ref.EINVAL, ref.ECORRUPT, ref.ENOSPC
LANES, SINGLE_LANES = ref.LANES, ref.SINGLE_LANES  # format v3's stream kind 4
EUNSUP = -4  # EKZ_EUNSUP: a block the C block decoder leaves to Python
TAB_LEN = 65536


_TLS = threading.local()


def scratch(name: str, n: int, dtype: type | np.dtype) -> np.ndarray:
    """A per-thread reusable work array of n items (contents undefined).  Reusing work
    memory matters: touching freshly mapped pages costs more than the kernels themselves.
    Never hand a scratch array (or a view of one) to the user."""
    views = _TLS.__dict__.get("_views")
    if views is None:
        views = _TLS._views = {}
    key = (name, n, dtype)
    got = views.get(key)
    if got is not None:  # the same request as before: its view (a view costs ~3 us)
        return got
    dt = np.dtype(dtype)
    nbytes = max(n * dt.itemsize, 8)
    buf = getattr(_TLS, name, None)
    if buf is None or buf.size < nbytes:
        buf = np.empty(nbytes, dtype=np.uint8)
        setattr(_TLS, name, buf)
        for k in [k for k in views if k[0] == name]:  # views of the array it replaces
            del views[k]
    if len(views) >= 256:
        views.clear()
    got = views[key] = buf[:nbytes].view(dt)[:n]
    return got


def in_scratch(a: np.ndarray) -> bool:
    """Whether a is (a view of) one of this thread's work arrays: a later kernel call may
    overwrite it."""
    while a.base is not None and isinstance(a.base, np.ndarray):
        a = a.base
    return any(a is buf for buf in _TLS.__dict__.values())


def release_scratch() -> None:
    """Drop this thread's work arrays (they are made again when next needed)."""
    _TLS.__dict__.clear()


_ARRAY_TYPE: dict[str, str] = {}


def _ptr(ffi, ctype: str, arr: np.ndarray):
    """A C pointer into arr's buffer (``ffi.from_buffer`` is much cheaper than
    ``arr.ctypes``; arrays here are C-contiguous)."""
    at = _ARRAY_TYPE.get(ctype)
    if at is None:
        at = _ARRAY_TYPE[ctype] = ctype[:-2] + "[]"
    return ffi.from_buffer(at, arr)


def cost(h: np.ndarray) -> float:
    """Estimated bits of a stream with token histogram h (uint32[256], C-contiguous)."""
    lib = _backend.lib
    if lib is None:
        return ref.cost(h)
    return float(lib.ekz_cost(_ptr(_backend.ffi, "uint32_t *", h)))


def cost3(h3: np.ndarray) -> list[float]:
    """``cost`` of each row of h3 (uint32[3, 256], C-contiguous), in one call."""
    lib = _backend.lib
    if lib is None:
        return [ref.cost(h3[o]) for o in range(3)]
    p = _backend.ffi.from_buffer("uint32_t[]", h3)
    return [lib.ekz_cost(p), lib.ekz_cost(p + 256), lib.ekz_cost(p + 512)]


def unpack_freq(raw: bytes, count: int, nbits: int, pb: int) -> np.ndarray | None:
    """The 256 token frequencies (in 1/4096) of a stream table stored at precision ``pb``
    bits, or None if they are not a valid table."""
    lib = _backend.lib
    if lib is None:
        return ref.unpack_freq(raw, count, nbits, pb)
    f = np.empty(256, dtype=np.uint16)
    ffi = _backend.ffi
    status = lib.ekz_unpack_freq(ffi.from_buffer(raw), len(raw), count, nbits, pb,
                                 ffi.from_buffer("uint16_t[]", f))
    return f if status == OK else None


def hist3(j: np.ndarray) -> np.ndarray:
    lib = _backend.lib
    if lib is None:
        return ref.hist3(j)
    ffi = _backend.ffi
    h = np.zeros(768, dtype=np.uint32)
    lib.ekz_hist3(_ptr(ffi, "uint64_t *", j), j.size, _ptr(ffi, "uint32_t *", h))
    return h


def hist1(j: np.ndarray) -> np.ndarray:
    """The order-0 token histogram of j (uint32[256]): ``hist3(j)[:256]``."""
    lib = _backend.lib
    if lib is None:
        return ref.hist3(j)[:256]
    ffi = _backend.ffi
    h = np.zeros(256, dtype=np.uint32)
    lib.ekz_hist1(_ptr(ffi, "uint64_t *", j), j.size, _ptr(ffi, "uint32_t *", h))
    return h


def hist_order(j: np.ndarray, order: int) -> np.ndarray:
    """Row ``order`` (0..2) of ``hist3(j)`` alone (uint32[256]): the token histogram of the
    one delta order a caller costs."""
    lib = _backend.lib
    if lib is None:
        return ref.hist3(j)[256 * order: 256 * (order + 1)]
    ffi = _backend.ffi
    h = np.zeros(256, dtype=np.uint32)
    lib.ekz_hist_order(_ptr(ffi, "uint64_t *", j), j.size, order, _ptr(ffi, "uint32_t *", h))
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


def tokenize(j: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """(tokens, work buffer holding the extra bits at [:blen], blen, histogram) of the
    order-``order`` stream of j.  The tokens and buffer are scratch: use them (``rans``)
    before the next call."""
    codes = max(j.size - order, 0)
    cap = 10 * codes + 64
    lib = _backend.lib
    if lib is None:
        toks, bits, h = ref.tokenize(j, order)
        buf = np.zeros(cap, dtype=np.uint8)
        buf[: len(bits)] = np.frombuffer(bits, dtype=np.uint8)
        tok = np.zeros(j.size, dtype=np.uint8)
        tok[order:] = toks
        return tok, buf, len(bits), h
    ffi = _backend.ffi
    tok = scratch("tok", j.size, np.uint8)
    buf = scratch("enc", cap, np.uint8)
    h = np.zeros(256, dtype=np.uint32)
    blen = ffi.new("size_t *")
    status = lib.ekz_tokenize(_ptr(ffi, "uint64_t *", j), j.size, order,
                              _ptr(ffi, "uint8_t *", tok), _ptr(ffi, "uint8_t *", buf), cap,
                              _ptr(ffi, "uint32_t *", h), blen)
    if status != OK:
        raise RuntimeError(f"ekz_tokenize returned status {status}")
    return tok, buf, int(blen[0]), h


def rans(tok: np.ndarray, order: int, freq: np.ndarray, buf: np.ndarray, blen: int) -> bytes:
    """bits (buf[:blen]) + the rANS words of tok[order:]: the stream body's data."""
    bits, words = _rans(tok, order, freq, buf, blen, 0)
    return bits + words


def rans_lanes(tok: np.ndarray, order: int, freq: np.ndarray, buf: np.ndarray,
               blen: int) -> tuple[bytes, bytes]:
    """(stored extra bits, rANS words) of format v3's stream kind 4 (LANES states, the
    extra bits' tail in their states); buf[:blen]: ekz_tokenize's bits (buf is scratch)."""
    return _rans(tok, order, freq, buf, blen, LANES)


def _rans(tok: np.ndarray, order: int, freq: np.ndarray, buf: np.ndarray, blen: int,
          lanes: int) -> tuple[bytes, bytes]:
    lib = _backend.lib
    if lib is None:
        if lanes:
            status, bits, words = ref.rans_lanes(tok[order:], freq, buf[:blen].tobytes())
        else:
            (status, words), bits = ref.rans(tok[order:], freq), buf[:blen].tobytes()
        if status != OK:
            raise RuntimeError(f"rANS encode failed with status {status}")
        return bits, words
    ffi = _backend.ffi
    wlen, bl = ffi.new("size_t *"), ffi.new("size_t *", blen)
    status = lib.ekz_rans_lanes(_ptr(ffi, "uint8_t *", tok), tok.size, order,
                                _ptr(ffi, "uint16_t *", freq), lanes,
                                _ptr(ffi, "uint8_t *", buf), buf.size, bl, wlen)
    if status != OK:
        raise RuntimeError(f"ekz_rans returned status {status}")
    blen = int(bl[0])
    return buf[:blen].tobytes(), buf[blen: blen + int(wlen[0])].tobytes()


def lanes_simd(on: bool) -> bool:
    """Turn the SIMD decoder of format v3's lanes off (False: the portable C path, the
    same bits) or back on; returns whether it was on (False without the kernels)."""
    lib = _backend.lib
    return bool(lib.ekz_lanes_simd(int(on))) if lib is not None else False


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


SINK_J, SINK_I8, SINK_B16, SINK_T64, SINK_T32, SINK_R64, SINK_R32 = (
    ref.SINK_J, ref.SINK_I8, ref.SINK_B16, ref.SINK_T64, ref.SINK_T32, ref.SINK_R64, ref.SINK_R32)
_SINK_CTYPE = {8: "uint8_t *", 16: "uint16_t *", 32: "uint32_t *", 64: "uint64_t *"}


def _sink_args(ffi, sink: int, out: np.ndarray, tab: np.ndarray | None):
    if out.dtype.kind == "f":
        op = ffi.from_buffer("double[]" if out.itemsize == 8 else "float[]", out)
    else:
        op = ffi.from_buffer(_SINK_CTYPE[out.itemsize * 8][:-2] + "[]", out)
    tp = ffi.NULL if tab is None else ffi.from_buffer(
        "double[]" if tab.itemsize == 8 else "float[]", tab)
    return op, tp


def decode_into(words: bytes, bits: bytes, freq: np.ndarray, single: int, order: int, n: int,
                first: list[int], sink: int, out: np.ndarray, g: int = 1, off: int = 0,
                tab: np.ndarray | None = None, lo: int = 0, span: int = 0) -> bool:
    """Decode a stream straight into ``out`` (C-contiguous, n items of the sink's width: an
    unsigned view for the integer, float-bits and residual sinks, the float array for the
    value-table sinks, see ``ekz_decode_into``); False if the stream is corrupt."""
    lib = _backend.lib
    if lib is None:
        status = ref.decode_into(words, bits, freq, single, order, n, first, sink, out, g, off,
                                 tab, lo, span)
    else:
        ffi = _backend.ffi
        op, tp = _sink_args(ffi, sink, out, tab)
        fp = ffi.new("uint64_t[2]", [int(v) for v in first[:2]] + [0] * (2 - len(first[:2])))
        status = lib.ekz_decode_into(ffi.from_buffer(words), len(words), ffi.from_buffer(bits),
                                     len(bits), _ptr(ffi, "uint16_t *", freq), single, order,
                                     fp, n, sink, op, g, off, tp, lo, span)
    if status == ECORRUPT:
        return False
    if status != OK:
        raise RuntimeError(f"ekz_decode_into returned status {status}")
    return True


def put_j(j: np.ndarray, sink: int, out: np.ndarray, g: int = 1, off: int = 0,
          tab: np.ndarray | None = None, lo: int = 0, span: int = 0) -> bool:
    """Write decoded j (uint64) to ``out`` as ``decode_into`` would; False if a j lies
    outside the value table (corrupt)."""
    lib = _backend.lib
    if lib is None:
        status = ref.put_j(j, sink, out, g, off, tab, lo, span)
    else:
        ffi = _backend.ffi
        op, tp = _sink_args(ffi, sink, out, tab)
        status = lib.ekz_put_j(_ptr(ffi, "uint64_t *", j), j.size, sink, op, g, off, tp, lo,
                               span)
    if status == ECORRUPT:
        return False
    if status != OK:
        raise RuntimeError(f"ekz_put_j returned status {status}")
    return True


def decode_block(buf: bytes, pos: int, size: int, out: np.ndarray, version: int = 1) -> bool:
    """Decode the block at ``buf[pos:pos + size]`` of a frame of format ``version`` into
    ``out`` (1-D, C-contiguous, the frame's storage dtype) in one C call
    (``ekz_decode_block``; version 2: the dictionary and the predictor too).  False when the
    C decoder
    leaves the block to codec._decode_block: no compiled kernels, damaged data (the Python
    decoder then raises the precise error) or a block model the kernel does not know."""
    lib = _backend.lib
    if lib is None:
        return False
    ffi = _backend.ffi
    n = out.size
    work = _block_work(n)
    status = lib.ekz_decode_block(ffi.from_buffer("uint8_t[]", buf) + pos, size, version,
                                  out.dtype.kind == "f", out.itemsize, ffi.from_buffer(out), n,
                                  work[0], work[1])
    if status == OK:
        return True
    if status in (ECORRUPT, EUNSUP):
        return False
    raise RuntimeError(f"ekz_decode_block returned status {status}")


def decode_blocks(buf: bytes, pos: int, end: int, blen: int, out: np.ndarray,
                  version: int = 1) -> tuple[int, int]:
    """Decode the blocks of a frame body ``buf[pos:end]`` (format ``version``, blocks of
    ``blen`` values) into
    ``out`` in one C call (``ekz_decode_blocks``): (blocks decoded, position after them).
    The caller decodes the rest (from a block the C decoder leaves, see decode_block)."""
    lib = _backend.lib
    if lib is None or out.size == 0:
        return 0, pos
    ffi = _backend.ffi
    work = _block_work(out.size if out.size < blen else blen)
    done = work[3]
    status = lib.ekz_decode_blocks(ffi.from_buffer("uint8_t[]", buf) + pos, end - pos, blen,
                                   version, out.dtype.kind == "f", out.itemsize,
                                   ffi.from_buffer(out), out.size, work[0], work[1], done)
    if status not in (OK, ECORRUPT, EUNSUP):
        raise RuntimeError(f"ekz_decode_blocks returned status {status}")
    return int(done[0]), pos + int(done[1])


def native() -> bool:
    """Whether the compiled kernels are in use."""
    return _backend.lib is not None


def decode_all_blocks(buf: bytes, pos: int, end: int, out: np.ndarray, version: int,
                      frame: int | None = None) -> bool:
    """Every block of a frame body ``buf[pos:end]`` (blocks of TAB_LEN values) into ``out``
    (non-empty, native kernels) in one C call; False when the C decoder leaves a block (the
    caller then decodes the frame by its full path).  decode_blocks with fewer Python steps:
    the per-frame cost is what short series pay per value.  ``frame``: the offset of the
    frame's header, whose CRC-32 (of ``buf[frame:end]``, the field at ``end``) is then
    checked first, in the same call where the CPU has the carry-less fold
    (``ekz_decode_frame``), else by :func:`crc32`; False when it does not match."""
    m = out.size if out.size < TAB_LEN else TAB_LEN
    work = _TLS.__dict__.get("blkwork")
    if work is None or work[1] < _work_size(m):  # (a short frame: a small area)
        work = _block_work(m)
    ffi = _backend.ffi
    lib = _backend.lib
    if frame is not None:
        status = lib.ekz_decode_frame(
            ffi.from_buffer(buf) + frame, end - frame, pos - frame, TAB_LEN, version,
            out.dtype.kind == "f", out.itemsize, ffi.from_buffer(out), out.size, work[0],
            work[1], work[3])
        # EUNSUP before any block: no fold here (or a first block C leaves, which the
        # call below then leaves too); anything else is the answer
        if status != EUNSUP or work[3][0] != 0:
            return status == OK
        if crc32(buf, frame, end) != int.from_bytes(buf[end: end + 4], "little"):
            return False
    return lib.ekz_decode_blocks(
        ffi.from_buffer(buf) + pos, end - pos, TAB_LEN, version, out.dtype.kind == "f",
        out.itemsize, ffi.from_buffer(out), out.size, work[0], work[1], work[3]) == OK


def _block_work(n: int) -> tuple:
    """This thread's work area for ekz_decode_block on n values: (pointer, size, array,
    size_t[2]); grow-only."""
    work = getattr(_TLS, "blkwork", None)
    if work is None or work[1] < _work_size(n):
        arr = np.empty(_work_size(n), dtype=np.uint8)
        work = _TLS.blkwork = (_backend.ffi.from_buffer(arr), arr.size, arr,
                               _backend.ffi.new("size_t[2]"))
    return work


_WORK: dict[int, int] = {}


def _work_size(n: int) -> int:
    w = _WORK.get(n)
    if w is None:
        w = _WORK[n] = int(_backend.lib.ekz_block_work_size(n))
    return w


_CRC_FOLD_MIN = 4096
"""Bytes below which zlib alone is faster than the C call (its fixed cost, about 1 us)."""


def crc32(buf: bytes, start: int, stop: int) -> int:
    """zlib.crc32 of buf[start:stop]: most of it by carry-less multiplication in C where the
    CPU has it (``ekz_crc32_fold``, about 5x zlib's speed), the rest (and everything on
    other CPUs, short spans or without the compiled kernels) by zlib."""
    lib = _backend.lib
    if lib is None or stop - start < _CRC_FOLD_MIN:
        if start == 0 and stop == len(buf):
            return zlib.crc32(buf)
        if stop - start < _CRC_FOLD_MIN:  # a copy of < 4 KB costs less than a memoryview
            return zlib.crc32(buf[start:stop])
        return zlib.crc32(memoryview(buf)[start:stop])
    ffi = _backend.ffi
    c = getattr(_TLS, "crc", None)
    if c is None:
        c = _TLS.crc = ffi.new("uint32_t *")
    c[0] = 0
    done = lib.ekz_crc32_fold(ffi.from_buffer("uint8_t[]", buf) + start, stop - start, c)
    return zlib.crc32(memoryview(buf)[start + done: stop], c[0])


def runs_split(j: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    lib = _backend.lib
    if lib is None:
        return ref.runs_split(j, order)
    ffi = _backend.ffi
    cnt = max(j.size - order, 0)
    runs = scratch("runs", cnt + 1, np.uint64)
    vals = scratch("vals", cnt, np.uint64)
    m = ffi.new("size_t *")
    status = lib.ekz_runs_split(_ptr(ffi, "uint64_t *", j), j.size, order,
                                _ptr(ffi, "uint64_t *", runs), _ptr(ffi, "uint64_t *", vals), m)
    if status != OK:
        raise RuntimeError(f"ekz_runs_split returned status {status}")
    return runs[: m[0] + 1], vals[: m[0]]


def runs_hist(j: np.ndarray, order: int, sparse: bool = False) -> tuple[np.ndarray, int]:
    lib = _backend.lib
    if lib is None:
        return ref.runs_hist(j, order)
    ffi = _backend.ffi
    h = np.zeros(512, dtype=np.uint32)
    m = ffi.new("size_t *")
    lib.ekz_runs_hist(_ptr(ffi, "uint64_t *", j), j.size, order, int(sparse),
                      _ptr(ffi, "uint32_t *", h), m)
    return h, int(m[0])


def runs_expand(runs: np.ndarray, vals: np.ndarray, order: int, first: list[int],
                n: int, slot: str = "j") -> np.ndarray | None:
    lib = _backend.lib
    if lib is None:
        return ref.runs_expand(runs, vals, order, first, n)
    if runs.size != vals.size + 1 or n < order:
        return None
    ffi = _backend.ffi
    j = scratch(slot, n, np.uint64)
    j[:order] = first[:order]
    status = lib.ekz_runs_expand(_ptr(ffi, "uint64_t *", runs), _ptr(ffi, "uint64_t *", vals),
                                 vals.size, order, _ptr(ffi, "uint64_t *", j), n)
    if status == ECORRUPT:
        return None
    if status != OK:
        raise RuntimeError(f"ekz_runs_expand returned status {status}")
    return j


def gcd(j: np.ndarray) -> int:
    lib = _backend.lib
    if lib is None:
        return ref.gcd(j)
    return int(lib.ekz_gcd(_ptr(_backend.ffi, "uint64_t *", j), j.size))


def gcd_split(j: np.ndarray, g: int, off: int) -> np.ndarray | None:
    """(j - off) / g (a new uint64 array) when exact for every value, else None; see
    ``ekz_gcd_split`` (2 <= g < 2**63, 0 <= off < g)."""
    lib = _backend.lib
    if lib is None:
        return ref.gcd_split(j, g, off)
    ffi = _backend.ffi
    q = np.empty(j.size, dtype=np.uint64)
    status = lib.ekz_gcd_split(_ptr(ffi, "uint64_t *", j), j.size, g, off,
                               _ptr(ffi, "uint64_t *", q))
    if status < 0:
        raise RuntimeError(f"ekz_gcd_split returned status {status}")
    return q if status == 1 else None


def f32_exact(x: np.ndarray) -> np.ndarray | None:
    """float64 x as a new float32 array when every value is a float32 value (bits and all),
    else None (found at the first value that is not)."""
    lib = _backend.lib
    if lib is None:
        return ref.f32_exact(x)
    ffi = _backend.ffi
    out = np.empty(x.size, dtype=np.float32)
    ok = lib.ekz_f32_exact(_ptr(ffi, "double *", x), x.size, _ptr(ffi, "float *", out))
    return out if ok == 1 else None


def sortable(x: np.ndarray) -> np.ndarray:
    """Float bits of float16/32/64 x as order-preserving int64 (a new array)."""
    lib = _backend.lib
    if lib is None or x.dtype.itemsize == 2:
        return ref.sortable(x)
    ffi = _backend.ffi
    out = np.empty(x.size, dtype=np.int64)
    if x.dtype == np.float64:
        lib.ekz_sortable_f64(_ptr(ffi, "double *", x), x.size, _ptr(ffi, "int64_t *", out))
    else:
        lib.ekz_sortable_f32(_ptr(ffi, "float *", x), x.size, _ptr(ffi, "int64_t *", out))
    return out


def float_gcd(d: np.ndarray, tol: float, floor: float, skips: int) -> list[float]:
    """The approximate gcd's divisors, coarsest first (see ``_codec_ref.float_gcd``);
    d: float64."""
    lib = _backend.lib
    if lib is None:
        return ref.float_gcd(d, tol, floor, skips)
    ffi = _backend.ffi
    d = np.ascontiguousarray(d, dtype=np.float64)
    seen = np.empty(max(d.size, 1), dtype=np.float64)
    m = lib.ekz_float_gcd(_ptr(ffi, "double *", d), d.size, tol, floor, skips,
                          _ptr(ffi, "double *", seen))
    return seen[:m].tolist()


def common_gaps(u: np.ndarray, floor: float, tol: float, maxg: int) -> np.ndarray:
    """The commonest gaps between the distinct values u (float64, ascending), commonest
    first (see ``_codec_ref.common_gaps``)."""
    lib = _backend.lib
    if lib is None:
        return ref.common_gaps(u, floor, tol, maxg)
    ffi = _backend.ffi
    u = np.ascontiguousarray(u, dtype=np.float64)
    n = u.size
    work = scratch("gwork", 3 * n, np.float64)
    iwork = scratch("giwork", 6 * n, np.uint64)
    out = np.empty(max(maxg, 1), dtype=np.float64)
    m = lib.ekz_common_gaps(_ptr(ffi, "double *", u), n, floor, tol, maxg,
                            _ptr(ffi, "double *", work), _ptr(ffi, "uint64_t *", iwork),
                            _ptr(ffi, "double *", out))
    if m < 0:  # a NaN on the way: numpy's rules decide
        return ref.common_gaps(u, floor, tol, maxg)
    return out[:m]


def grid_costs(ux: np.ndarray, w: np.ndarray, a: float, steps: np.ndarray,
               frac: float) -> tuple[np.ndarray, np.ndarray]:
    """Per step: (weighted share of the distinct values ux off the grid, weighted bits of
    their residuals); see ``_codec_ref.grid_costs``.  ux: float32/float64, w and steps:
    float64."""
    lib = _backend.lib
    if lib is None:
        return ref.grid_costs(ux, w, a, steps, frac)
    ffi = _backend.ffi
    ux = np.ascontiguousarray(ux)
    w = np.ascontiguousarray(w, dtype=np.float64)
    steps = np.ascontiguousarray(steps, dtype=np.float64)
    off = np.empty(steps.size, dtype=np.float64)
    bits = np.empty(steps.size, dtype=np.float64)
    fn, ctype = ((lib.ekz_grid_costs_f64, "double *") if ux.dtype == np.float64
                 else (lib.ekz_grid_costs_f32, "float *"))
    fn(_ptr(ffi, ctype, ux), ux.size, _ptr(ffi, "double *", w), a,
       _ptr(ffi, "double *", steps), steps.size, frac, _ptr(ffi, "double *", off),
       _ptr(ffi, "double *", bits))
    return off, bits


def grid_origin(u: np.ndarray, counts: np.ndarray, half: np.ndarray, b0: float,
                frac: float, offn: int, sweep: int) -> tuple[float, float] | None:
    """(a, b) of the grid of step about b0 through the distinct values u (float64, seen
    ``counts`` (int64) times, rounding intervals +-half), or None (see
    ``_codec_ref.grid_origin``)."""
    lib = _backend.lib
    if lib is None or sweep < 2:
        return ref.grid_origin(u, counts, half, b0, frac, offn, sweep)
    ffi = _backend.ffi
    u = np.ascontiguousarray(u, dtype=np.float64)
    counts = np.ascontiguousarray(counts, dtype=np.int64)
    half = np.ascontiguousarray(half, dtype=np.float64)
    work = scratch("gwork", 3 * sweep + u.size, np.float64)
    iwork = scratch("giwork", 9 * sweep + u.size, np.uint64)
    out = ffi.new("double[2]")
    status = lib.ekz_grid_origin(_ptr(ffi, "double *", u), _ptr(ffi, "int64_t *", counts),
                                 _ptr(ffi, "double *", half), u.size, b0, frac, offn, sweep,
                                 _ptr(ffi, "double *", work), _ptr(ffi, "uint64_t *", iwork),
                                 out)
    if status < 0:  # a NaN on the way: numpy's rules decide
        return ref.grid_origin(u, counts, half, b0, frac, offn, sweep)
    return (out[0], out[1]) if status == 1 else None


def find_decimals(x: np.ndarray, sample: int, maxd: int, allow: int = 0) -> int:
    lib = _backend.lib
    if lib is None:
        return ref.find_decimals(x, sample, maxd, allow)
    ffi = _backend.ffi
    if x.dtype == np.float64:
        return int(lib.ekz_find_decimals_f64(_ptr(ffi, "double *", x), x.size, sample, maxd,
                                             allow))
    return int(lib.ekz_find_decimals_f32(_ptr(ffi, "float *", x), x.size, sample, maxd, allow))


def quant(x: np.ndarray, mode: int, p: float, a: float, b: float,
          tol: float, slot: str = "q") -> tuple[np.ndarray, np.ndarray, int, tuple[int, int]]:
    """(k, r, number of nonzero r, (min k, max k)) for float32/float64 x (k, r in scratch
    ``slot``; the range is (0, 0) for an empty x)."""
    lib = _backend.lib
    if lib is None:
        k, r, nz = ref.quant(x, mode, p, a, b, tol)
        return k, r, nz, ((int(k.min()), int(k.max())) if k.size else (0, 0))
    ffi = _backend.ffi
    k, r, nz, rng = _quant_out(slot, x.size)
    fn, ctype = ((lib.ekz_quant_f64, "double *") if x.dtype == np.float64
                 else (lib.ekz_quant_f32, "float *"))
    tab = scratch("qtab" + ctype[0], TAB_LEN, x.dtype)
    status = fn(_ptr(ffi, ctype, x), x.size, mode, p, a, b, tol, _ptr(ffi, ctype, tab),
                _ptr(ffi, "int64_t *", k), _ptr(ffi, "int64_t *", r), nz, rng)
    if status != OK:
        raise RuntimeError(f"ekz_quant returned status {status}")
    return _quant_result(k, r, nz, rng)


def _quant_out(slot: str, n: int) -> tuple:
    """A quantizer's outputs: k and r (scratch ``slot``), the count and range cells."""
    ffi = _backend.ffi
    return (scratch(slot + "k", n, np.int64), scratch(slot + "r", n, np.int64),
            ffi.new("size_t *"), ffi.new("int64_t[2]"))


def _quant_result(k: np.ndarray, r: np.ndarray, nz, rng) -> tuple:
    if nz[0] == 0:  # r may be untouched: hand back zeros that cost no writes
        r = _zeros(k.size)
    return k, r, int(nz[0]), (int(rng[0]), int(rng[1]))


_ZEROS = np.zeros(TAB_LEN, dtype=np.int64)
_ZEROS.flags.writeable = False


def _zeros(n: int) -> np.ndarray:
    """n int64 zeros, read-only (a shared array for up to a block's length)."""
    return _ZEROS[:n] if n <= _ZEROS.size else np.zeros(n, dtype=np.int64)


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
    tab = scratch("tab" + ctype[0], TAB_LEN, dtype)
    status = fn(_ptr(ffi, "uint64_t *", j), rp, j.size, mode, p, a, b, g, off,
                _ptr(ffi, ctype, tab), _ptr(ffi, ctype, out))
    if status != OK:
        raise RuntimeError(f"ekz_dequant returned status {status}")
    return out


def decode_tab(words: bytes, bits: bytes, freq: np.ndarray, single: int, order: int, n: int,
               first: list[int], mode: int, p: float, a: float, b: float, g: int, off: int,
               lo: int, span: int, out: np.ndarray) -> bool:
    """Fused decode + dequantize into ``out`` (float32/float64); False if corrupt."""
    dtype = out.dtype
    lib = _backend.lib
    if lib is None:
        tab = ref.build_tab(mode, p, a, b, g, off, lo, span + 1, dtype)
        status, y = ref.decode_tab(words, bits, freq, single, order, n, first, lo, span, tab)
        if status != OK:
            return False
        out[...] = y
        return True
    ffi = _backend.ffi
    is64 = dtype == np.float64
    ctype = "double *" if is64 else "float *"
    tab = scratch("tab" + ctype[0], TAB_LEN, dtype)
    build = lib.ekz_build_tab_f64 if is64 else lib.ekz_build_tab_f32
    if build(mode, p, a, b, g, off, lo, span + 1, _ptr(ffi, ctype, tab)) != OK:
        raise RuntimeError("ekz_build_tab: bad arguments")
    fn = lib.ekz_decode_tab_f64 if is64 else lib.ekz_decode_tab_f32
    fp = ffi.new("uint64_t[2]", [int(v) for v in first[:2]] + [0] * (2 - len(first[:2])))
    status = fn(ffi.from_buffer(words), len(words), ffi.from_buffer(bits), len(bits),
                _ptr(ffi, "uint16_t *", freq), single, order, fp, lo, span,
                _ptr(ffi, ctype, tab), _ptr(ffi, ctype, out), n)
    if status == ECORRUPT:
        return False
    if status != OK:
        raise RuntimeError(f"ekz_decode_tab returned status {status}")
    return True


def add_resid(r: np.ndarray, out: np.ndarray) -> None:
    lib = _backend.lib
    if lib is None:
        out[...] = ref.add_resid(r, out)
        return
    ffi = _backend.ffi
    if out.dtype == np.float64:
        lib.ekz_add_resid_f64(_ptr(ffi, "int64_t *", r), r.size, _ptr(ffi, "double *", out))
    else:
        lib.ekz_add_resid_f32(_ptr(ffi, "int64_t *", r), r.size, _ptr(ffi, "float *", out))


def runs_expand_tab(runs: np.ndarray, vals: np.ndarray, order: int, first: list[int], n: int,
                    mode: int, p: float, a: float, b: float, g: int, off: int, lo: int,
                    span: int, out: np.ndarray) -> bool:
    """Zero-run stream straight into floats (``out``) through the value table; False if
    corrupt."""
    lib = _backend.lib
    if runs.size != vals.size + 1 or n < order:
        return False
    if lib is None:
        j = ref.runs_expand(runs, vals, order, first, n)
        if j is None:
            return False
        ix = j - np.uint64(lo)
        if np.any(ix > np.uint64(span)):
            return False
        out[...] = ref.build_tab(mode, p, a, b, g, off, lo, span + 1, out.dtype)[
            ix.astype(np.int64)]
        return True
    ffi = _backend.ffi
    is64 = out.dtype == np.float64
    ctype = "double *" if is64 else "float *"
    tab = scratch("tab" + ctype[0], TAB_LEN, out.dtype)
    build = lib.ekz_build_tab_f64 if is64 else lib.ekz_build_tab_f32
    if build(mode, p, a, b, g, off, lo, span + 1, _ptr(ffi, ctype, tab)) != OK:
        raise RuntimeError("ekz_build_tab: bad arguments")
    fp = ffi.new("uint64_t[2]", [int(v) for v in first[:2]] + [0] * (2 - len(first[:2])))
    fn = lib.ekz_runs_expand_tab_f64 if is64 else lib.ekz_runs_expand_tab_f32
    status = fn(_ptr(ffi, "uint64_t *", runs), _ptr(ffi, "uint64_t *", vals), vals.size, order,
                fp, lo, span, _ptr(ffi, ctype, tab), _ptr(ffi, ctype, out), n)
    if status == ECORRUPT:
        return False
    if status != OK:
        raise RuntimeError(f"ekz_runs_expand_tab returned status {status}")
    return True


def follow(x: np.ndarray, b: float, tol: float, order: int,
           slot: str = "follow") -> np.ndarray:
    """The prediction-following grid's int64 codes of float32/float64 x (scratch ``slot``;
    see ``_native/lossy.h``); b finite and > 0, order 1 or 2."""
    lib = _backend.lib
    if lib is None:
        return ref.follow(x, b, tol, order)
    ffi = _backend.ffi
    k = scratch(slot, x.size, np.int64)
    fn, ctype = ((lib.ekz_follow_f64, "double *") if x.dtype == np.float64
                 else (lib.ekz_follow_f32, "float *"))
    if fn(_ptr(ffi, ctype, x), x.size, b, tol, order, _ptr(ffi, "int64_t *", k)) != OK:
        raise RuntimeError("ekz_follow: bad grid step or order")
    return k


def minmax(x: np.ndarray) -> tuple[int, int]:
    """(min, max) of a non-empty int64 array, in one pass."""
    lib = _backend.lib
    if lib is None:
        return int(x.min()), int(x.max())
    ffi = _backend.ffi
    out = ffi.new("int64_t[2]")
    lib.ekz_minmax(_ptr(ffi, "int64_t *", x), x.size, out)
    return int(out[0]), int(out[1])


def table(h: np.ndarray) -> tuple[np.ndarray, bytes]:
    """(frequencies in 1/4096, stored table bytes) of a stream with token histogram h
    (uint32[256], two or more tokens present): see ``ekz_table``."""
    lib = _backend.lib
    if lib is None:
        return ref.table(h)
    ffi = _backend.ffi
    f = np.empty(256, dtype=np.uint16)
    out = ffi.new("uint8_t[400]")
    n = ffi.new("size_t *")
    status = lib.ekz_table(_ptr(ffi, "uint32_t *", h), _ptr(ffi, "uint16_t *", f), out, 400,
                           n)
    if status != OK:
        raise RuntimeError(f"ekz_table returned status {status}")
    return f, ffi.buffer(out, n[0])[:]


def affine_guess(x: np.ndarray, sample: int, slack: float, coarse: float, maxg: int,
                 frac: float, offn: int, sweep: int, nsteps: int) -> tuple[float, float] | None:
    """(a, b) of the grid a + k*b a sample of float32/64 x seems to lie on, or None: one C
    call (``_native/compress_float.c``), the same floats as ``_codec_ref.affine_guess``."""
    lib = _backend.lib
    if lib is None:
        return ref.affine_guess(x, sample, slack, coarse, maxg, frac, offn, sweep, nsteps)
    ffi = _backend.ffi
    x = np.ascontiguousarray(x)
    m = min(sample, x.size)
    iw = ffi.new("size_t *")
    dlen = lib.ekf_guess_work(m, maxg, sweep, nsteps, iw)
    work = scratch("fgwork", dlen, np.float64)
    iwork = scratch("fgiwork", iw[0], np.uint64)
    out = ffi.new("double[2]")
    fn, ctype = ((lib.ekf_affine_guess_f64, "double *") if x.dtype == np.float64
                 else (lib.ekf_affine_guess_f32, "float *"))
    status = fn(_ptr(ffi, ctype, x), x.size, sample, slack, coarse, maxg, frac, offn, sweep,
                nsteps, _ptr(ffi, "double *", work), dlen, _ptr(ffi, "uint64_t *", iwork),
                iw[0], out)
    if status == EUNSUP:  # a NaN on the way: numpy's rules decide
        return ref.affine_guess(x, sample, slack, coarse, maxg, frac, offn, sweep, nsteps)
    if status < 0:
        raise RuntimeError(f"ekf_affine_guess returned status {status}")
    return (out[0], out[1]) if status == 1 else None


def quant_fast(x: np.ndarray, mode: int, p: float, a: float, b: float,
               tol: float, slot: str = "q") -> tuple[np.ndarray, np.ndarray, int, tuple[int, int]]:
    """:func:`quant` in one vectorized pass when every |x p| (decimal) or |(x - a) / b|
    (affine) is below 2**51 (``ekf_quant1_*``, ``_native/compress_float.c``: the same k, r,
    count and range); anything else goes to :func:`quant`."""
    lib = _backend.lib
    if lib is None or x.size == 0:
        return quant(x, mode, p, a, b, tol, slot)
    ffi = _backend.ffi
    k, r, nz, rng = _quant_out(slot, x.size)
    fn, ctype = ((lib.ekf_quant1_f64, "double *") if x.dtype == np.float64
                 else (lib.ekf_quant1_f32, "float *"))
    if not fn(_ptr(ffi, ctype, x), x.size, mode, p, a, b, tol, _ptr(ffi, "int64_t *", k),
              _ptr(ffi, "int64_t *", r), nz, rng):
        return quant(x, mode, p, a, b, tol, slot)
    return _quant_result(k, r, nz, rng)
