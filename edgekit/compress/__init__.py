"""Codecs for sensor time series.

* :func:`encode` / :func:`decode`: one call, lossless (or error-bounded with ``tolerance``),
  restoring dtype, shape and every bit; frames are self-contained and checksummed.
* :func:`decode_stream`, :func:`decode_frame`, :func:`iter_frames`: concatenations of frames.
* :func:`encode_timestamps` / :func:`decode_timestamps` (int64 ns), :func:`encode_series` /
  :func:`decode_series` ((timestamps, values) records), :class:`SeriesEncoder` (streaming).
* the delta and zigzag transforms (:mod:`edgekit.compress.delta`) the codec is built on.

Format: ``docs/compress/format.md``.
"""

from edgekit.compress.codec import (
    BLOCK_LEN,
    FORMAT_VERSION,
    FrameInfo,
    decode,
    decode_frame,
    decode_stream,
    encode,
    iter_frames,
    release_buffers,
)
from edgekit.compress.delta import (
    delta_decode,
    delta_encode,
    delta_zigzag_decode,
    delta_zigzag_encode,
    zigzag_decode,
    zigzag_encode,
)
from edgekit.compress.series import (
    SeriesEncoder,
    decode_series,
    decode_series_stream,
    decode_timestamps,
    encode_series,
    encode_timestamps,
    iter_records,
)

__all__ = [
    "BLOCK_LEN",
    "FORMAT_VERSION",
    "FrameInfo",
    "SeriesEncoder",
    "decode",
    "decode_frame",
    "decode_series",
    "decode_series_stream",
    "decode_timestamps",
    "decode_stream",
    "delta_decode",
    "delta_encode",
    "delta_zigzag_decode",
    "delta_zigzag_encode",
    "encode",
    "encode_series",
    "encode_timestamps",
    "iter_frames",
    "iter_records",
    "release_buffers",
    "zigzag_decode",
    "zigzag_encode",
]
