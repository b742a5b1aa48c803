"""Codecs for sensor time series.

So far: the delta and zigzag transforms (:mod:`edgekit.compress.delta`) that the codecs are
built on, with C kernels and numpy references that give the same bits.
"""

from edgekit.compress.delta import (
    delta_decode,
    delta_encode,
    delta_zigzag_decode,
    delta_zigzag_encode,
    zigzag_decode,
    zigzag_encode,
)

__all__ = [
    "delta_decode",
    "delta_encode",
    "delta_zigzag_decode",
    "delta_zigzag_encode",
    "zigzag_decode",
    "zigzag_encode",
]
