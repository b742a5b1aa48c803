"""A small, bounds-checked reader of the TFLite flatbuffer, run before any runtime sees a
model: a truncated, foreign or malformed file becomes a :class:`~edgekit.errors.ModelError`
here instead of undefined behaviour in C++.

It walks what the runtimes dereference (``Model.operator_codes``, ``subgraphs`` with their
tensors, inputs, outputs and operators, ``buffers``) and checks every offset, length and
index against the file; it also returns each operator's name and custom options, which is
how :mod:`edgekit.infer` finds ``TFLite_Detection_PostProcess`` and its parameters.
Field numbers follow TFLite's ``schema.fbs``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from edgekit.errors import ModelError

IDENTIFIER = b"TFL3"
# TensorType -> bytes per element (types whose size is not fixed are left out)
_ELEMENT_SIZE = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 6: 1, 7: 2, 8: 8, 9: 1, 10: 8, 11: 16, 12: 8,
                 15: 4, 16: 2}
_MAX_TENSOR_BYTES = 1 << 31
# element-wise builtins whose output has its input's shape: DEQUANTIZE, LOGISTIC, RELU,
# RELU6, TANH, CAST, QUANTIZE (XNNPACK trusts the declared shapes of these)
_SAME_SHAPE_OPS = {6, 14, 19, 21, 28, 53, 114}
_BUILTIN_CUSTOM = 32  # BuiltinOperator.CUSTOM


@dataclass(frozen=True, slots=True)
class OpInfo:
    """One operator of subgraph 0: its name (builtin code as ``"BUILTIN_<n>"`` or the custom
    code), input and output tensor indices, and raw custom options (may be empty)."""

    name: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    custom_options: bytes


@dataclass(frozen=True, slots=True)
class ModelSummary:
    version: int
    num_tensors: int
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    ops: tuple[OpInfo, ...]


class _Reader:
    def __init__(self, buf: bytes, path: str | None) -> None:
        self.buf = buf
        self.n = len(buf)
        self.path = path

    def fail(self, what: str) -> ModelError:
        return ModelError(f"not a valid TFLite model ({what})", path=self.path)

    def _unpack(self, fmt: str, pos: int) -> int:
        size = struct.calcsize(fmt)
        if pos < 0 or pos + size > self.n:
            raise self.fail(f"offset {pos} beyond the end of the {self.n}-byte file: truncated?")
        return struct.unpack_from(fmt, self.buf, pos)[0]

    def u32(self, pos: int) -> int:
        return self._unpack("<I", pos)

    def table(self, pos: int) -> tuple[int, int, int]:
        """(table position, vtable position, vtable size)."""
        vt = pos - self._unpack("<i", pos)
        vsize = self._unpack("<H", vt)
        if vsize < 4 or vsize % 2:
            raise self.fail(f"bad vtable at {vt}")
        tsize = self._unpack("<H", vt + 2)
        if pos + tsize > self.n:
            raise self.fail(f"table at {pos} runs past the end: truncated?")
        return pos, vt, vsize

    def field(self, t: tuple[int, int, int], idx: int) -> int | None:
        pos, vt, vsize = t
        off_pos = 4 + 2 * idx
        if off_pos + 2 > vsize:
            return None
        off = self._unpack("<H", vt + off_pos)
        return pos + off if off else None

    def scalar(self, t, idx: int, fmt: str, default: int = 0) -> int:
        p = self.field(t, idx)
        return default if p is None else self._unpack(fmt, p)

    def ref(self, t, idx: int) -> int | None:
        p = self.field(t, idx)
        return None if p is None else p + self.u32(p)

    def vector(self, t, idx: int, elem: int) -> tuple[int, int]:
        """(data position, length) of a vector field; (0, 0) when absent."""
        p = self.ref(t, idx)
        if p is None:
            return 0, 0
        length = self.u32(p)
        if p + 4 + length * elem > self.n:
            raise self.fail(f"vector at {p} of {length} elements runs past the end: truncated?")
        return p + 4, length

    def tables(self, t, idx: int) -> list[tuple[int, int, int]]:
        data, length = self.vector(t, idx, 4)
        return [self.table(data + 4 * i + self.u32(data + 4 * i)) for i in range(length)]

    def ints(self, t, idx: int) -> tuple[int, ...]:
        data, length = self.vector(t, idx, 4)
        return struct.unpack_from(f"<{length}i", self.buf, data) if length else ()

    def string(self, t, idx: int) -> str:
        data, length = self.vector(t, idx, 1)
        try:
            return self.buf[data:data + length].decode("utf-8")
        except UnicodeDecodeError as err:
            raise self.fail("a name is not UTF-8") from err


def read_model(buf: bytes, path: str | None = None) -> ModelSummary:
    """Check ``buf`` as a TFLite model and summarise subgraph 0; raise ModelError if not."""
    if not isinstance(buf, (bytes, bytearray, memoryview)):
        raise ModelError("a model must be bytes", path=path)
    buf = bytes(buf)
    r = _Reader(buf, path)
    if len(buf) < 8:
        raise r.fail(f"only {len(buf)} bytes")
    if buf[4:8] != IDENTIFIER:
        raise r.fail(f"file identifier {buf[4:8]!r}, expected {IDENTIFIER!r}: not a .tflite "
                     "flatbuffer")
    model = r.table(r.u32(0))
    version = r.scalar(model, 0, "<I")
    if version != 3:
        raise r.fail(f"schema version {version}, expected 3")
    buffers = r.tables(model, 4)
    buffer_sizes = []
    for b in buffers:
        _, length = r.vector(b, 0, 1)
        offset = r.scalar(b, 1, "<Q")
        size = r.scalar(b, 2, "<Q")
        if offset > 1 and offset + size > len(buf):
            raise r.fail(f"a buffer at {offset}+{size} lies past the end: truncated?")
        buffer_sizes.append(size if offset > 1 else length)
    codes = []
    builtins = []
    for c in r.tables(model, 1):
        builtin = max(r.scalar(c, 0, "<b"), r.scalar(c, 3, "<i"))
        builtins.append(builtin)
        codes.append(r.string(c, 1) if builtin == _BUILTIN_CUSTOM else f"BUILTIN_{builtin}")
    subgraphs = r.tables(model, 2)
    if not subgraphs:
        raise r.fail("no subgraph")
    r.string(model, 3)  # description
    for md in r.tables(model, 6):  # metadata: name, buffer
        r.string(md, 0)
        if r.scalar(md, 1, "<I") >= max(len(buffers), 1):
            raise r.fail("metadata refers to a missing buffer")
    for sig in r.tables(model, 7):  # signature_defs: inputs, outputs, key, subgraph
        for tm in r.tables(sig, 0) + r.tables(sig, 1):
            r.string(tm, 0)
        r.string(sig, 4)
        if r.scalar(sig, 5, "<I") >= len(subgraphs):
            raise r.fail("a signature refers to a missing subgraph")
    first: ModelSummary | None = None
    for sg in subgraphs:
        tensors = r.tables(sg, 0)
        nt = len(tensors)
        shapes = []
        for t in tensors:
            shape = r.ints(t, 0)
            shapes.append(shape)
            ttype = r.scalar(t, 1, "<b")
            b = r.scalar(t, 2, "<I")
            if b >= max(len(buffers), 1):
                raise r.fail(f"a tensor refers to buffer {b} of {len(buffers)}")
            r.string(t, 3)
            count = 1
            for d in shape:
                if d < 0:
                    raise r.fail(f"a tensor has a negative dimension {d}")
                count *= d
            size = _ELEMENT_SIZE.get(ttype)
            if size is not None and count * size > _MAX_TENSOR_BYTES:
                raise r.fail(f"a tensor of shape {shape} is over 2 GiB")
            data = buffer_sizes[b] if b < len(buffer_sizes) else 0
            sparse = r.field(t, 6) is not None
            if data and size is not None and not sparse and data != count * size:
                raise r.fail(f"a constant tensor of shape {shape} has {data} bytes of data, "
                             f"expected {count * size}")
        ins, outs = r.ints(sg, 1), r.ints(sg, 2)
        for i in ins + outs:
            if not 0 <= i < nt:
                raise r.fail(f"graph input/output {i} is not one of {nt} tensors")
        ops = []
        for op in r.tables(sg, 3):
            code = r.scalar(op, 0, "<I")
            if code >= len(codes):
                raise r.fail(f"operator code {code} of {len(codes)}")
            oi, oo = r.ints(op, 1), r.ints(op, 2)
            for i in oi + oo:
                if not -1 <= i < nt:
                    raise r.fail(f"an operator refers to tensor {i} of {nt}")
            if (builtins[code] in _SAME_SHAPE_OPS and oi and oo and oi[0] >= 0 and oo[0] >= 0
                    and shapes[oi[0]] != shapes[oo[0]]):
                raise r.fail(f"{codes[code]} maps shape {shapes[oi[0]]} to {shapes[oo[0]]}")
            data, length = r.vector(op, 5, 1)
            ops.append(OpInfo(codes[code], oi, oo, buf[data:data + length]))
        if first is None:
            first = ModelSummary(version, nt, ins, outs, tuple(ops))
    assert first is not None
    return first
