"""Binary patches: make one from old and new bytes, apply it with flat memory.

A patch is self-describing: a fixed header (magic ``EKUP``, format version, method, the old
and new sizes and SHA-256 digests, the zstd window the apply needs, CRC-32 of the header)
followed by its compressed sections.  Three methods, and :func:`make_patch` keeps the
smallest of those it may use:

``delta``
    bsdiff-class: a suffix array of the old file finds, for each region of the new one, the
    old region it best resembles allowing mismatches; the patch holds control entries
    (lengths and old-file seeks), the byte differences new-old (mostly zeros) and the extra
    bytes that match nothing, as three zstd streams.  Best when the code moved but did not
    change much (same compiler): a few tenths of a percent of the new file.
``prefix``
    zstd with the whole old file as a raw-content dictionary (what ``zstd --patch-from``
    does).  Best when a recompile changed addresses everywhere.  Its apply holds the old
    file and a window spanning old+new in memory, so it is only chosen when that fits
    :attr:`PatchOptions.apply_memory`.
``full``
    the new file compressed by zstd at :attr:`PatchOptions.level`: never worse than sending
    the new file compressed.

Apply (:func:`apply_patch_stream`, :func:`apply_patch_file`) reads the old file and the
patch by seeking (both must be seekable files), writes the new file as a stream, and holds
at most ``chunk_size`` bytes of file data plus the zstd windows recorded in the header (for
``delta``, four windows of ``2**window_log``, 2 MiB each by default).  It checks the old
file's size and digest first (:class:`~edgekit.errors.WrongBaseError`), refuses any control
entry that would read outside the old file or write past the declared new size, and checks
the new size and digest at the end (:class:`~edgekit.errors.UpdateDataError`).

>>> old = bytes(range(256)) * 64
>>> new = old[:5000] + b"edge" + old[5000:]
>>> patch = make_patch(old, new)
>>> patch_info(patch).method in METHODS, len(patch) < 300
(True, True)
>>> apply_patch(old, patch) == new
True
"""

from __future__ import annotations

import hashlib
import io
import lzma
import os
import struct
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, cast

import numpy as np

from edgekit import _telemetry
from edgekit._fileio import atomic_write
from edgekit.errors import (
    CorruptDataError,
    FormatVersionError,
    InputError,
    InputTypeError,
    OptionsError,
    UpdateDataError,
    UpdateError,
    WrongBaseError,
)
from edgekit.update import _engine, _sparse
from edgekit.update._zstd import zstd

__all__ = [
    "METHODS",
    "PatchInfo",
    "PatchOptions",
    "apply_patch",
    "apply_patch_file",
    "apply_patch_stream",
    "make_patch",
    "make_patch_file",
    "patch_info",
]

METHODS = ("delta", "prefix", "full")
_METHOD_CODE = {"full": 0, "prefix": 1, "delta": 2}
_CODE_METHOD = {v: k for k, v in _METHOD_CODE.items()}
MAGIC = b"EKUP"
VERSION = 1
_HEAD = struct.Struct("<4sBBHQQ32s32sQQQQ")
_CRC = struct.Struct("<I")
HEADER_SIZE = _HEAD.size + _CRC.size
_BATCH_HEAD = struct.Struct("<I")
_MiB = 1 << 20
_ZSTD, _LZMA, _SPARSE = 0, 1, 2
_SPARSE_HEAD = struct.Struct("<BQ")


@dataclass(frozen=True, slots=True)
class PatchOptions:
    """How :func:`make_patch` builds a patch.

    Attributes:
        level: zstd level of every compressed section, 1..22 (19: the usual "download" level).
        methods: the methods it may use; it keeps the smallest result.
        window_log: log2 of the zstd window of the three delta streams, 10..27; the apply
            holds four such windows (default 21: 4 x 2 MiB).
        apply_memory: bytes the target device can spend applying (zstd windows and, for
            ``prefix``, the old file); a method that would need more is not used.  ``None``:
            no limit.
    """

    level: int = 19
    methods: tuple[str, ...] = METHODS
    window_log: int = 21
    apply_memory: int | None = 16 * _MiB

    def __post_init__(self) -> None:
        if isinstance(self.level, bool) or not isinstance(self.level, int):
            raise OptionsError("level must be an int", name="level", got=self.level)
        if not 1 <= self.level <= 22:
            raise OptionsError(f"level must be in 1..22, got {self.level}", name="level",
                               expected=(1, 22), got=self.level)
        if not isinstance(self.methods, tuple) or not self.methods or any(
                m not in METHODS for m in self.methods):
            raise OptionsError(f"methods must be a non-empty tuple of {METHODS}",
                               name="methods", got=self.methods)
        if isinstance(self.window_log, bool) or not isinstance(self.window_log, int) or not (
                10 <= self.window_log <= 27):
            raise OptionsError("window_log must be an int in 10..27", name="window_log",
                               expected=(10, 27), got=self.window_log)
        if self.apply_memory is not None and (
                isinstance(self.apply_memory, bool) or not isinstance(self.apply_memory, int)
                or self.apply_memory < _MiB):
            raise OptionsError("apply_memory must be None or an int of at least 1 MiB",
                               name="apply_memory", got=self.apply_memory)


@dataclass(frozen=True, slots=True)
class PatchInfo:
    """What a patch header declares.

    Attributes:
        method: ``"delta"``, ``"prefix"`` or ``"full"``.
        old_size, new_size: bytes.
        old_sha256, new_sha256: hex digests.
        window: bytes of zstd window each compressed section may use.
        patch_size: bytes of the whole patch.
        apply_memory: bytes the apply holds besides its chunk buffer (windows, prefix dict).
        candidates: on a freshly made patch, the size in bytes every method tried gave
            (``()`` when read from a header).
    """

    method: str
    old_size: int
    new_size: int
    old_sha256: str
    new_sha256: str
    window: int
    patch_size: int
    apply_memory: int
    candidates: tuple[tuple[str, int], ...] = field(default=())


# ---------------------------------------------------------------------------------------
# header


def _apply_memory(method: str, old_size: int, window: int) -> int:
    if method == "delta":
        return 4 * window  # control, diff (or its gaps and values), extra
    if method == "prefix":
        return old_size + window
    return window


def _pack(method: str, old: bytes | memoryview, new_size: int, old_sha: bytes,
          new_sha: bytes, window: int, sections: tuple[int, int, int], flags: int) -> bytes:
    head = _HEAD.pack(MAGIC, VERSION, _METHOD_CODE[method], flags, len(old), new_size, old_sha,
                      new_sha, *sections, window)
    return head + _CRC.pack(zlib.crc32(head))


@dataclass(frozen=True, slots=True)
class _Header:
    info: PatchInfo
    sections: tuple[int, int, int]
    codecs: tuple[int, int, int]


def _parse(head: bytes, total: int) -> _Header:
    if len(head) < HEADER_SIZE:
        raise UpdateDataError(f"patch truncated: {len(head)} bytes, a header is {HEADER_SIZE}",
                              offset=len(head), reason="truncated")
    if head[:4] != MAGIC:
        raise UpdateDataError("not an edgekit patch (bad magic)", offset=0, reason="bad magic")
    if head[4] != VERSION:
        raise FormatVersionError(f"patch format version {head[4]}; this edgekit reads "
                                 f"{VERSION}", version=head[4], supported=(VERSION,))
    body = head[:_HEAD.size]
    (crc,) = _CRC.unpack_from(head, _HEAD.size)
    if zlib.crc32(body) != crc:
        raise UpdateDataError("patch header checksum mismatch", offset=0, reason="header")
    (_, _, code, flags, old_size, new_size, old_sha, new_sha, s1, s2, s3,
     window) = _HEAD.unpack(body)
    codecs = tuple((flags >> (2 * i)) & 3 for i in range(3))
    if (code not in _CODE_METHOD or flags >> 6 or any(c > _LZMA for c in codecs[::2])
            or codecs[1] > _SPARSE
            or window > (1 << 31) or (code != _METHOD_CODE["delta"] and flags)):
        raise UpdateDataError("patch header has unknown method or flags", offset=5,
                              reason="header")
    method = _CODE_METHOD[code]
    if HEADER_SIZE + s1 + s2 + s3 != total:
        raise UpdateDataError(
            f"patch sections declare {HEADER_SIZE + s1 + s2 + s3} bytes, the patch has "
            f"{total}", offset=min(total, HEADER_SIZE + s1 + s2 + s3),
            reason="truncated" if total < HEADER_SIZE + s1 + s2 + s3 else "trailing")
    if method != "delta" and (s2 or s3):
        raise UpdateDataError("patch header has sections its method does not use",
                              offset=HEADER_SIZE, reason="header")
    info = PatchInfo(method, old_size, new_size, old_sha.hex(), new_sha.hex(), window, total,
                     _apply_memory(method, old_size, window))
    return _Header(info, (s1, s2, s3), codecs)  # type: ignore[arg-type]


def patch_info(patch: bytes | bytearray | memoryview | BinaryIO) -> PatchInfo:
    """The header of ``patch`` (bytes or a seekable binary file, read from its start)."""
    if isinstance(patch, (bytes, bytearray, memoryview)):
        return _parse(bytes(patch[:HEADER_SIZE]), len(patch)).info
    f = _seekable(patch, "patch")
    return _read_header(f).info


def _read_header(f: BinaryIO) -> _Header:
    start = f.tell()
    total = f.seek(0, os.SEEK_END) - start
    f.seek(start)
    return _parse(f.read(HEADER_SIZE), total)


# ---------------------------------------------------------------------------------------
# make


def _as_bytes(x: object, name: str) -> bytes:
    if isinstance(x, bytes):
        return x
    if isinstance(x, (bytearray, memoryview)):
        return bytes(x)
    raise InputTypeError(f"{name} must be bytes, got {type(x).__name__}", name=name,
                         expected="bytes", got=type(x).__name__)


def _encode_ctrl(ctrl: np.ndarray, prev: list[int]) -> bytes:
    """One batch of the control stream: count, then add[], copy[], seek[] as int64 LE, where
    seek moves the old-file position before the entry's add (from the end of the previous
    entry's add).  ``prev`` carries (oldpos, addlen) of the previous entry across batches."""
    oldpos = ctrl[:, 1]
    before = np.empty_like(oldpos)
    before[0] = prev[0] + prev[1]
    before[1:] = oldpos[:-1] + ctrl[:-1, 2]
    seek = oldpos - before
    prev[0], prev[1] = int(oldpos[-1]), int(ctrl[-1, 2])
    cols = np.stack([ctrl[:, 2], ctrl[:, 3], seek]).astype("<i8")
    return _BATCH_HEAD.pack(ctrl.shape[0]) + cols.tobytes()


def _lzma_filters(window: int, literal_context: bool, level: int = 19) -> list[dict]:
    preset = 9 | lzma.PRESET_EXTREME if level >= 19 else min(9, level // 2)
    f = {"id": lzma.FILTER_LZMA2, "preset": preset, "dict_size": window}
    if not literal_context:  # diff bytes and control words: position says more than context
        f.update(lc=0, lp=0, pb=0)
    return [f]


class _Both:
    """One stream compressed by zstd and by LZMA2 at once; keeps the smaller."""

    def __init__(self, opts: PatchOptions, literal_context: bool) -> None:
        z = zstd()
        window = 1 << opts.window_log
        lv = z.ZstdCompressionParameters.from_level(opts.level)
        # match tables sized to the window, not the level's default (several encoders at once)
        params = z.ZstdCompressionParameters.from_level(
            opts.level, window_log=opts.window_log,
            chain_log=min(lv.chain_log, opts.window_log + 1),
            hash_log=min(lv.hash_log, opts.window_log))
        self._z = z.ZstdCompressor(compression_params=params).compressobj()
        self._x = lzma.LZMACompressor(format=lzma.FORMAT_RAW, filters=_lzma_filters(
            window, literal_context, opts.level))
        self._zp: list[bytes] = []
        self._xp: list[bytes] = []

    def feed(self, chunk: bytes) -> None:
        if chunk:
            self._zp.append(self._z.compress(chunk))
            self._xp.append(self._x.compress(chunk))

    def finish(self) -> tuple[bytes, int]:
        a = b"".join(self._zp) + self._z.flush()
        b = b"".join(self._xp) + self._x.flush()
        return (b, _LZMA) if len(b) < len(a) else (a, _ZSTD)


def _delta_sections(old: bytes, new: bytes,
                    opts: PatchOptions) -> tuple[tuple[bytes, bytes, bytes], int]:
    """The control, diff and extra streams, each compressed by zstd and by LZMA2 (both with
    a window of ``2**window_log``), keeping the smaller; the diff stream is also tried in
    its sparse form (zero-run lengths and non-zero bytes apart, see ``_sparse``).  Returns
    the sections and the codec flags (2 bits a section: 0 zstd, 1 LZMA2, 2 sparse)."""
    streams = [_Both(opts, False), _Both(opts, False), _Both(opts, True)]
    gaps, values = _Both(opts, False), _Both(opts, True)
    sparse = _sparse.SparseEncoder(gaps.feed, values.feed)
    sa = _engine.suffix_array(old)
    prev = [0, 0]
    for ctrl in _engine.scan_batches(old, new, sa):
        diff, extra = _engine.streams(old, new, ctrl)
        streams[0].feed(_encode_ctrl(ctrl, prev))
        streams[1].feed(diff)
        sparse.feed(diff)
        streams[2].feed(extra)
    del sa
    sections, flags = [], 0
    for i, s in enumerate(streams):
        data, codec = s.finish()
        sections.append(data)
        flags |= codec << (2 * i)
    (g, gc), (v, vc) = gaps.finish(), values.finish()
    packed = _SPARSE_HEAD.pack(gc | (vc << 1), len(g)) + g + v
    if len(packed) < len(sections[1]):
        sections[1] = packed
        flags = (flags & ~(3 << 2)) | (_SPARSE << 2)
    return (sections[0], sections[1], sections[2]), flags


def _prefix_window(old_size: int, new_size: int) -> int:
    return 1 << max(10, (old_size + new_size - 1).bit_length())


def _prefix_payload(old: bytes, new: bytes, opts: PatchOptions) -> bytes:
    z = zstd()
    window = _prefix_window(len(old), len(new))
    params = z.ZstdCompressionParameters.from_level(
        opts.level, window_log=window.bit_length() - 1, enable_ldm=True)
    d = z.ZstdCompressionDict(old, dict_type=z.DICT_TYPE_RAWCONTENT)
    return z.ZstdCompressor(dict_data=d, compression_params=params).compress(new)


def _full_payload(new: bytes, opts: PatchOptions) -> tuple[bytes, int]:
    z = zstd()
    payload = z.ZstdCompressor(level=opts.level).compress(new)
    return payload, max(z.get_frame_parameters(payload).window_size, 1)


def make_patch(old: bytes, new: bytes, options: PatchOptions | None = None) -> bytes:
    """The smallest patch turning ``old`` into ``new`` among ``options.methods``.

    Diff memory: about 5x ``len(old)`` + ``len(new)`` (the suffix array is 4 bytes a byte of
    old) plus the zstd encoders; time: a few seconds for 60 MB on one core plus zstd at
    ``level`` (level 19 compresses about 2-5 MB/s).  :func:`patch_info` tells what it chose.
    """
    return _make(old, new, options)[0]


def _make(old: bytes, new: bytes, options: PatchOptions | None) -> tuple[bytes, PatchInfo]:
    old = _as_bytes(old, "old")
    new = _as_bytes(new, "new")
    opts = options if options is not None else PatchOptions()
    if not isinstance(opts, PatchOptions):
        raise InputTypeError("options must be a PatchOptions", name="options")
    if len(new) > _engine.MAX_SIZE or len(old) > _engine.MAX_SIZE:
        raise InputError(f"old and new must be under {_engine.MAX_SIZE} bytes", name="new")
    old_sha, new_sha = hashlib.sha256(old).digest(), hashlib.sha256(new).digest()
    budget = opts.apply_memory
    cands: list[tuple[int, str, tuple[bytes, ...], int, int]] = []
    if "full" in opts.methods:
        payload, window = _full_payload(new, opts)
        if budget is None or _apply_memory("full", len(old), window) <= budget:
            cands.append((len(payload), "full", (payload,), window, 0))
    if "delta" in opts.methods:
        window = 1 << opts.window_log
        if budget is None or _apply_memory("delta", len(old), window) <= budget:
            dsecs, dflags = _delta_sections(old, new, opts)
            cands.append((sum(map(len, dsecs)), "delta", dsecs, window, dflags))
    if "prefix" in opts.methods and old:
        window = _prefix_window(len(old), len(new))
        if window <= (1 << 31) and (
                budget is None or _apply_memory("prefix", len(old), window) <= budget):
            payload = _prefix_payload(old, new, opts)
            cands.append((len(payload), "prefix", (payload,), window, 0))
    if not cands:
        raise OptionsError(
            f"no method in {opts.methods} fits apply_memory={budget} bytes for these sizes",
            name="apply_memory", got=budget)
    order = {"full": 0, "delta": 1, "prefix": 2}
    size, method, secs, window, flags = min(cands, key=lambda c: (c[0], order[c[1]]))
    lens = [len(s) for s in secs] + [0, 0, 0]
    sections = (lens[0], lens[1], lens[2])
    blob = _pack(method, old, len(new), old_sha, new_sha, window, sections, flags)
    blob += b"".join(secs)
    info = _parse(blob[:HEADER_SIZE], len(blob)).info
    info = PatchInfo(**{**{f: getattr(info, f) for f in PatchInfo.__slots__},
                        "candidates": tuple((m, HEADER_SIZE + s) for s, m, _, _, _ in cands)})
    return blob, info


def make_patch_file(old_path: str | os.PathLike[str], new_path: str | os.PathLike[str],
                    patch_path: str | os.PathLike[str],
                    options: PatchOptions | None = None) -> PatchInfo:
    """:func:`make_patch` between two files, written atomically to ``patch_path``; returns
    the patch's :class:`PatchInfo` with the size every method tried gave."""
    old = Path(old_path).read_bytes()
    new = Path(new_path).read_bytes()
    blob, info = _make(old, new, options)
    atomic_write(Path(patch_path), blob)
    return info


# ---------------------------------------------------------------------------------------
# apply


def _seekable(f: object, name: str) -> BinaryIO:
    if not all(hasattr(f, a) for a in ("read", "seek", "tell")):
        raise InputTypeError(f"{name} must be a seekable binary file", name=name,
                             got=type(f).__name__)
    try:
        f.seek(f.tell())  # type: ignore[attr-defined]
    except (OSError, io.UnsupportedOperation) as err:
        raise InputError(f"{name} must be seekable ({err})", name=name) from err
    return f  # type: ignore[return-value]


class _Section:
    """A read-only window [start, start+length) of a shared seekable file, with its own
    position (three of them read one patch file in turn)."""

    def __init__(self, f: BinaryIO, start: int, length: int) -> None:
        self._f, self._pos, self._end = f, start, start + length

    def read(self, n: int = -1) -> bytes:
        left = self._end - self._pos
        n = left if n is None or n < 0 else min(n, left)
        if n <= 0:
            return b""
        self._f.seek(self._pos)
        data = self._f.read(n)
        self._pos += len(data)
        return data


class _LzmaReader:
    """``read(n)`` over a raw LZMA2 stream with a bounded dictionary and bounded output."""

    def __init__(self, section: _Section, window: int, literal_context: bool) -> None:
        self._src = section
        self._d = lzma.LZMADecompressor(format=lzma.FORMAT_RAW,
                                        filters=_lzma_filters(window, literal_context))

    def read(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n and not self._d.eof:
            fed = b""
            if self._d.needs_input:
                fed = self._src.read(1 << 16)
                if not fed:
                    break
            got = self._d.decompress(fed, max_length=n - len(out))
            if not got and not fed and not self._d.needs_input:
                break  # no input given and no output made: nothing more will come
            out += got
        return bytes(out)


class _Stream:
    """Exact reads from a zstd (``dctx``) or LZMA2 stream over a patch section; codec errors
    become UpdateDataError."""

    def __init__(self, dctx: object, section: _Section, what: str,
                 lzma_window: int = 0) -> None:
        if dctx is None:
            self._r: object = _LzmaReader(section, lzma_window, what == "extra")
        else:
            self._r = dctx.stream_reader(section, read_size=1 << 16,  # type: ignore[attr-defined]
                                         read_across_frames=True)
        self._what = what

    def read(self, n: int) -> bytes:
        z = zstd()
        out = bytearray()
        try:
            while len(out) < n:
                chunk = self._r.read(n - len(out))  # type: ignore[attr-defined]
                if not chunk:
                    break
                out += chunk
        except (z.ZstdError, lzma.LZMAError) as err:
            raise UpdateDataError(f"patch {self._what} stream is damaged: {err}",
                                  reason="stream") from err
        return bytes(out)

    def exact(self, n: int) -> bytes:
        data = self.read(n)
        if len(data) != n:
            raise UpdateDataError(f"patch {self._what} stream ends early", reason="truncated")
        return data

    def at_end(self) -> bool:
        return self.read(1) == b""


def _read_old(old: BinaryIO, base: int, pos: int, n: int) -> bytes:
    old.seek(base + pos)
    data = old.read(n)
    if len(data) != n:
        raise WrongBaseError("old file is shorter than the patch declares")
    return data


class _Out:
    """Buffered writer that hashes, counts and refuses to pass the declared size."""

    def __init__(self, out: BinaryIO, limit: int, chunk: int) -> None:
        self._out, self._limit, self._chunk = out, limit, chunk
        self._buf = bytearray()
        self.written = 0
        self.sha = hashlib.sha256()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.written + len(self._buf) + len(data) > self._limit:
            raise UpdateDataError(
                f"patch writes past the declared new size of {self._limit} bytes",
                offset=self.written + len(self._buf), reason="overrun")
        self._buf += data
        if len(self._buf) >= self._chunk:
            self.flush()

    def flush(self) -> None:
        if self._buf:
            self.sha.update(self._buf)
            self._out.write(self._buf)
            self.written += len(self._buf)
            self._buf = bytearray()


class _Buffered:
    """Reads ``total`` bytes of a stream in reads of up to ``chunk`` bytes and hands them
    out in any sizes (many small control entries would otherwise mean many small reads)."""

    def __init__(self, stream: _Stream | _SparseStream, total: int, chunk: int) -> None:
        self._s, self._left, self._chunk = stream, total, chunk
        self._buf = b""
        self._at = 0

    def take(self, k: int) -> bytearray:
        if self._at + k > len(self._buf):
            rest = self._buf[self._at:]
            want = min(max(self._chunk, k) - len(rest), self._left)
            self._buf = rest + self._s.exact(want)
            self._left -= want
            self._at = 0
        out = bytearray(self._buf[self._at:self._at + k])
        self._at += k
        return out


def _codec_stream(patch: BinaryIO, off: int, length: int, what: str, codec: int,
                  window: int) -> _Stream:
    section = _Section(patch, off, length)
    if codec == _LZMA:
        return _Stream(None, section, what, lzma_window=window)
    return _Stream(zstd().ZstdDecompressor(max_window_size=window), section, what)


class _SparseStream:
    """The diff stream rebuilt from its sparse form, with the _Stream interface."""

    def __init__(self, gaps: _Stream, values: _Stream) -> None:
        self._r = _sparse.SparseReader(gaps, values)

    def exact(self, n: int) -> bytes:
        return self._r.exact(n)

    def at_end(self) -> bool:
        return self._r.at_end()


def _sparse_stream(patch: BinaryIO, off: int, length: int, window: int) -> _SparseStream:
    patch.seek(off)
    head = patch.read(_SPARSE_HEAD.size)
    if len(head) != _SPARSE_HEAD.size or length < _SPARSE_HEAD.size:
        raise UpdateDataError("patch diff section truncated", reason="truncated")
    codecs, glen = _SPARSE_HEAD.unpack(head)
    body = length - _SPARSE_HEAD.size
    if codecs >> 2 or glen > body:
        raise UpdateDataError("patch diff section header is damaged", reason="header")
    start = off + _SPARSE_HEAD.size
    gaps = _codec_stream(patch, start, glen, "diff gaps", codecs & 1, window)
    values = _codec_stream(patch, start + glen, body - glen, "diff values", codecs >> 1,
                           window)
    return _SparseStream(gaps, values)


def _apply_delta(old: BinaryIO, old_base: int, old_size: int, patch: BinaryIO, hdr: _Header,
                 out: _Out, chunk: int) -> None:
    start = patch.tell()
    s1, s2, s3 = hdr.sections
    window = max(hdr.info.window, 1 << 10)
    streams: list[_Stream | _SparseStream] = []
    for off, length, what, codec in ((start, s1, "control", hdr.codecs[0]),
                                     (start + s1, s2, "diff", hdr.codecs[1]),
                                     (start + s1 + s2, s3, "extra", hdr.codecs[2])):
        if codec == _SPARSE:
            streams.append(_sparse_stream(patch, off, length, window))
        else:
            streams.append(_codec_stream(patch, off, length, what, codec, window))
    # _parse allows the sparse form only for the diff section
    ctrl_s, extra_s = cast(_Stream, streams[0]), cast(_Stream, streams[2])
    diff_s = streams[1]
    new_size = hdr.info.new_size
    oldpos = 0
    produced = 0
    while True:
        head = ctrl_s.read(_BATCH_HEAD.size)
        if not head:
            break
        if len(head) != _BATCH_HEAD.size:
            raise UpdateDataError("patch control stream ends early", reason="truncated")
        (n,) = _BATCH_HEAD.unpack(head)
        if not 1 <= n <= _engine.BATCH:
            raise UpdateDataError(f"patch control batch of {n} entries", reason="stream")
        cols = np.frombuffer(ctrl_s.exact(24 * n), dtype="<i8").reshape(3, n)
        adds, copies, seeks = (c.tolist() for c in cols)
        if min(adds) < 0 or min(copies) < 0:
            raise UpdateDataError("patch has a negative length", reason="stream")
        total_add = sum(adds)
        if produced + total_add + sum(copies) > new_size:
            raise UpdateDataError(
                f"patch writes past the declared new size of {new_size} bytes",
                offset=produced, reason="overrun")
        diff_buf = _Buffered(diff_s, total_add, chunk)
        extra_buf = _Buffered(extra_s, sum(copies), chunk)
        for add, copy, seek in zip(adds, copies, seeks, strict=True):
            oldpos += seek
            if add:
                if oldpos < 0 or oldpos + add > old_size:
                    raise UpdateDataError("patch reads outside the old file",
                                          offset=produced, reason="bounds")
                done = 0
                while done < add:
                    k = min(chunk, add - done)
                    d = diff_buf.take(k)
                    _engine.add_into(np.frombuffer(d, dtype=np.uint8), np.frombuffer(
                        _read_old(old, old_base, oldpos + done, k), dtype=np.uint8))
                    out.write(d)
                    done += k
                oldpos += add
            done = 0
            while done < copy:
                k = min(chunk, copy - done)
                out.write(extra_buf.take(k))
                done += k
            produced += add + copy
    if not (diff_s.at_end() and extra_s.at_end()):
        raise UpdateDataError("patch has data after its last control entry", reason="trailing")


def _apply_zstd(dctx: object, patch: BinaryIO, hdr: _Header, out: _Out, chunk: int) -> None:
    s = _Stream(dctx, _Section(patch, patch.tell(), hdr.sections[0]), hdr.info.method)
    limit = hdr.info.new_size
    while True:
        data = s.read(min(chunk, limit - out.written + 1 - len(out._buf)) or 1)
        if not data:
            return
        out.write(data)


def apply_patch_stream(old: BinaryIO | None, patch: BinaryIO, out: BinaryIO, *,
                       chunk_size: int = 256 * 1024, max_memory: int | None = None,
                       verify_old: bool = True, _emit: bool = True) -> PatchInfo:
    """Apply ``patch`` to ``old`` and write the new file to ``out``, in flat memory.

    ``old`` and ``patch`` are seekable binary files read from their current position
    (``old`` may be ``None`` for a ``full`` patch); ``out`` needs only ``write``.  Memory:
    ``chunk_size`` bytes of file data plus :attr:`PatchInfo.apply_memory`; a patch whose
    apply would need more than ``max_memory`` is refused before anything is written.
    ``verify_old`` reads the old file once first to check its size and digest.

    Raises :class:`~edgekit.errors.WrongBaseError` when ``old`` is not the file the patch
    was made for, :class:`~edgekit.errors.UpdateDataError` (a ``CorruptDataError``) when
    the patch is damaged or produces other bytes than it declares.  ``out`` may hold partial
    output after an error: write to a staging file (as :func:`apply_patch_file` does).
    """
    chunk = _chunk(chunk_size)
    t0 = time.perf_counter()
    method = "unknown"
    try:
        patch = _seekable(patch, "patch")
        hdr = _read_header(patch)
        info = hdr.info
        method = info.method
        if max_memory is not None and info.apply_memory > max_memory:
            raise UpdateError(f"{method} patch needs {info.apply_memory} bytes to apply; "
                              f"max_memory is {max_memory}")
        old_base = 0
        if method != "full" or verify_old:
            if old is None:
                raise InputError(f"a {method} patch needs the old file", name="old")
            old = _seekable(old, "old")
            old_base = old.tell()
        if old is not None and (verify_old or method != "full"):
            _check_old(old, old_base, info, chunk, strict=verify_old)
        w = _Out(out, info.new_size, chunk)
        z = zstd()
        if method == "delta":
            _apply_delta(old, old_base, info.old_size, patch, hdr, w, chunk)  # type: ignore[arg-type]
        elif method == "full":
            _apply_zstd(z.ZstdDecompressor(max_window_size=max(info.window, 1 << 10)),
                        patch, hdr, w, chunk)
        else:
            old.seek(old_base)  # type: ignore[union-attr]
            base = old.read(info.old_size + 1)  # type: ignore[union-attr]
            if len(base) != info.old_size:
                raise WrongBaseError("old file has another size than the patch was made for",
                                     expected=info.old_size, got=len(base))
            d = z.ZstdCompressionDict(base, dict_type=z.DICT_TYPE_RAWCONTENT)
            _apply_zstd(z.ZstdDecompressor(dict_data=d, max_window_size=info.window),
                        patch, hdr, w, chunk)
            del base, d
        w.flush()
        if w.written != info.new_size:
            raise UpdateDataError(f"patch produced {w.written} bytes, declared "
                                  f"{info.new_size}", offset=w.written, reason="size")
        if w.sha.hexdigest() != info.new_sha256:
            raise UpdateDataError("patch output does not match the declared SHA-256",
                                  reason="digest")
    except (CorruptDataError, UpdateError) as err:
        if _emit:
            reason = getattr(err, "reason", None) or type(err).__name__
            _telemetry.emit("update.apply", method=method, bytes=0, outcome=reason,
                            seconds=time.perf_counter() - t0)
        raise
    if _emit:
        _telemetry.emit("update.apply", method=method, bytes=info.new_size, outcome="ok",
                        seconds=time.perf_counter() - t0)
    return info


def _chunk(chunk_size: object) -> int:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or not (
            4096 <= chunk_size <= 64 * _MiB):
        raise InputError("chunk_size must be an int in 4096..64 MiB", name="chunk_size",
                         got=chunk_size)
    return chunk_size


def _check_old(old: BinaryIO, base: int, info: PatchInfo, chunk: int, strict: bool) -> None:
    old.seek(base)
    h = hashlib.sha256()
    n = 0
    while True:
        data = old.read(chunk)
        if not data:
            break
        n += len(data)
        h.update(data)
    if n != info.old_size or h.hexdigest() != info.old_sha256:
        raise WrongBaseError(
            "the old file is not the one this patch was made for",
            expected=info.old_sha256, got=h.hexdigest())


def apply_patch(old: bytes | None, patch: bytes) -> bytes:
    """Apply ``patch`` to ``old`` in memory and return the new bytes (checked against the
    patch's size and SHA-256).  See :func:`apply_patch_stream` for the errors."""
    patch = _as_bytes(patch, "patch")
    old_f = None if old is None else io.BytesIO(_as_bytes(old, "old"))
    out = io.BytesIO()
    apply_patch_stream(old_f, io.BytesIO(patch), out, chunk_size=_MiB,
                       verify_old=old is not None)
    return out.getvalue()


def apply_patch_file(old_path: str | os.PathLike[str] | None,
                     patch_path: str | os.PathLike[str], new_path: str | os.PathLike[str], *,
                     chunk_size: int = 256 * 1024, max_memory: int | None = None) -> PatchInfo:
    """Apply a patch file to an old file, writing ``new_path`` atomically: the output goes to
    a temporary file beside it, is checked and fsynced, then renamed over ``new_path``.  On
    any error the temporary file is removed and ``new_path`` is untouched."""
    new_path = Path(new_path)
    tmp = new_path.with_name(f".{new_path.name}.part-{os.getpid()}")
    try:
        with open(patch_path, "rb") as pf, open(tmp, "wb") as out:
            if old_path is None:
                info = apply_patch_stream(None, pf, out, chunk_size=chunk_size,
                                          max_memory=max_memory, verify_old=False)
            else:
                with open(old_path, "rb") as of:
                    info = apply_patch_stream(of, pf, out, chunk_size=chunk_size,
                                              max_memory=max_memory)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, new_path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return info
