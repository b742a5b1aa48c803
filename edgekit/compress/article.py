"""The article's ``DataCompressor`` interface, kept for code written against it, now lossless.

The article's sketch::

    compressed = zlib.compress(np.diff(data, prepend=data[0]).tobytes(), level)
    restored = np.cumsum(np.frombuffer(zlib.decompress(compressed), dtype=np.float32))

What was wrong, and what this class does instead:

* the first value was lost (``prepend=data[0]`` makes the first difference 0, so the
  reconstruction is ``x - x[0]``): the codec stores the first value;
* the bytes were read back as float32 whatever the input was (a float64 input came back as
  twice as many garbage values): the frame records dtype and shape;
* a float cumulative sum is not bit-exact, so the "99.2 % accuracy" of a lossless claim was
  never lossless: decimal data are coded as exact integers, everything else bit for bit;
* there was no header, version or checksum: frames have all three, and damaged bytes raise
  :class:`~edgekit.errors.CorruptDataError` instead of decoding to noise.

:func:`article_compress` / :func:`article_decompress` reproduce the sketch faithfully (with
only the first value stored, so that its ratio can be compared) for benchmarks and the demo.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from edgekit.compress.codec import decode, encode
from edgekit.errors import CorruptDataError, InputError, InputTypeError, OptionsError

__all__ = ["DataCompressor", "article_compress", "article_decompress"]


class DataCompressor:
    """``DataCompressor(compression_level).compress_sensor_data(data)`` and
    ``.decompress_data(blob, original_shape)``, as in the article, on edgekit's codec.

    Args:
        compression_level: 0..9 as in the article (zlib's scale).  Kept for compatibility:
            levels 1..3 map to the codec's fast effort, 4..9 (and 0) to its default; the
            result is lossless at every level.
    """

    __slots__ = ("compression_level",)

    def __init__(self, compression_level: int = 6) -> None:
        if isinstance(compression_level, bool) or not isinstance(compression_level, int) \
                or not 0 <= compression_level <= 9:
            raise OptionsError(f"compression_level must be an int in 0..9, got "
                               f"{compression_level!r}")
        self.compression_level = compression_level

    def compress_sensor_data(self, data: object) -> bytes:
        """Encode ``data`` (an ndarray, or a list of numbers, read as float64) losslessly."""
        arr = data if isinstance(data, np.ndarray) else np.asarray(data, dtype=np.float64)
        level = 1 if 1 <= self.compression_level <= 3 else 5
        return encode(arr, level=level)

    def decompress_data(self, blob: bytes, original_shape: tuple[int, ...] | None = None
                        ) -> np.ndarray:
        """Decode ``blob``.  ``original_shape`` is optional now (the frame knows it); when
        given, it is checked, and reshapes a frame of the same size."""
        arr = decode(blob)
        if original_shape is None:
            return arr
        try:
            shape = tuple(int(s) for s in np.atleast_1d(original_shape))
        except (TypeError, ValueError) as err:
            raise InputTypeError("original_shape must be a tuple of ints",
                                 name="original_shape") from err
        if int(np.prod(shape, dtype=np.int64)) != arr.size:
            raise InputError(f"original_shape {shape} does not hold the {arr.size} decoded "
                             "values", name="original_shape", expected=arr.shape, got=shape)
        return arr.reshape(shape)


def article_compress(data: np.ndarray, level: int = 6) -> bytes:
    """The article's method, with the first value stored (8 bytes, float64) so that it can be
    decoded at all: zlib of the float differences."""
    x = np.asarray(data, dtype=np.float64)
    first = x[:1].tobytes() if x.size else b""
    return struct.pack("<B", len(first)) + first + zlib.compress(
        np.diff(x, prepend=x[:1]).tobytes() if x.size else b"", level)


def article_decompress(blob: bytes) -> np.ndarray:
    """Inverse of :func:`article_compress` by cumulative sum, as the article does (float64
    here, so it is the method's own error that shows, not the float32 misreading)."""
    try:
        k = blob[0]
        first = np.frombuffer(blob[1:1 + k], dtype=np.float64)
        diffs = np.frombuffer(zlib.decompress(blob[1 + k:]), dtype=np.float64)
    except (IndexError, ValueError, zlib.error) as err:
        raise CorruptDataError(f"not an article_compress blob: {err}") from err
    if not first.size:
        return diffs
    return first[0] + np.cumsum(diffs)
