"""numcodecs codec for zarr: ``EdgekitCodec`` (codec id ``"edgekit"``), registered on import.

Requires the ``[zarr]`` extra (numcodecs); importing this module without it raises
:class:`~edgekit.errors.RuntimeUnavailableError`.

>>> from edgekit.compress.zarr import EdgekitCodec          # doctest: +SKIP
>>> zarr.create(..., compressor=EdgekitCodec(tolerance=None))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgekit.compress.codec import _check_level, _check_tolerance, decode, encode
from edgekit.errors import RuntimeUnavailableError

try:
    from numcodecs.abc import Codec
    from numcodecs.compat import ensure_contiguous_ndarray, ndarray_copy
    from numcodecs.registry import register_codec
except ImportError as err:  # pragma: no cover - exercised by the no-extra install test
    raise RuntimeUnavailableError(
        "edgekit.compress.zarr needs numcodecs: pip install 'edgekit[zarr]'") from err

__all__ = ["EdgekitCodec"]


class EdgekitCodec(Codec):
    """edgekit's sensor-series codec as a numcodecs codec.

    Args:
        tolerance: None (lossless) or the absolute error bound, as in
            :func:`edgekit.compress.encode`.
        level: effort 1..9.

    zarr hands the codec each chunk as an array; :meth:`decode` returns the chunk's values
    (flattened, as numcodecs codecs do; zarr reshapes), or copies them into ``out``.
    """

    codec_id = "edgekit"

    def __init__(self, tolerance: float | None = None, level: int = 5) -> None:
        _check_tolerance(tolerance)
        self.tolerance = None if tolerance is None else float(tolerance)
        self.level = _check_level(level)

    def encode(self, buf: Any) -> bytes:
        arr = ensure_contiguous_ndarray(buf, flatten=False)
        if not isinstance(buf, np.ndarray):
            arr = np.frombuffer(memoryview(arr), dtype=np.uint8)
        return encode(np.asarray(arr), tolerance=self.tolerance, level=self.level)

    def decode(self, buf: Any, out: Any = None) -> Any:
        data = bytes(memoryview(ensure_contiguous_ndarray(buf)))
        arr = decode(data).reshape(-1)
        if out is None:
            return arr
        return ndarray_copy(arr, out)

    def get_config(self) -> dict[str, Any]:
        return {"id": self.codec_id, "tolerance": self.tolerance, "level": self.level}

    def __repr__(self) -> str:
        return f"EdgekitCodec(tolerance={self.tolerance!r}, level={self.level})"


register_codec(EdgekitCodec)
