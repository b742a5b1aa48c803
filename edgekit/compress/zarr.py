"""numcodecs codec for zarr: ``EdgekitCodec`` (codec id ``"edgekit"``), registered on import.

Requires the ``[zarr]`` extra (numcodecs); importing this module without it raises
:class:`~edgekit.errors.RuntimeUnavailableError`.  ``EdgekitCodec`` is the codec for zarr
format 2 arrays (``compressor=``) and any numcodecs user; zarr format 3 arrays take
:class:`edgekit.compress.fleet.EdgekitZarrCodec` (``serializer=``).  Both are found by id
through the package's entry points (``numcodecs.codecs`` / ``zarr.codecs``) once edgekit is
installed, so a reader need not import edgekit first.

numcodecs up to at least 0.16.6 parses zfpy's version as dot-separated integers at import, so
``import numcodecs`` (and so ``import zarr``) raises ``ValueError`` when zfpy
``1.0.1.post0`` is installed.  This module imports numcodecs through :func:`_import_numcodecs`,
which retries that one failure with zfpy's release number (``1.0.1``): numcodecs then
imports, its ZFPY codec included, and a later ``import zarr`` works in the same process.

>>> from edgekit.compress.zarr import EdgekitCodec          # doctest: +SKIP
>>> zarr.create_array(..., zarr_format=2, compressor=EdgekitCodec())  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import numpy as np

from edgekit.compress.codec import _check_level, _check_tolerance, decode, encode
from edgekit.errors import RuntimeUnavailableError


def _raised_in_numcodecs_zfpy(err: BaseException) -> bool:
    frames = traceback.extract_tb(err.__traceback__)
    return any(re.search(r"numcodecs[\\/]zfpy\.py$", f.filename) for f in frames)


@contextmanager
def _zfpy_release_version() -> Iterator[None]:
    """While importing numcodecs: report zfpy's and numpy's versions (the two that
    ``numcodecs/zfpy.py`` parses) as their release numbers only (``1.0.1.post0`` -> ``1.0.1``,
    ``2.5.0rc1`` -> ``2.5.0``), the form numcodecs' integer parser takes."""
    original: Callable[[str], str] = importlib.metadata.version

    def version(name: str) -> str:
        v = original(name)
        if re.sub(r"[-_.]+", "-", name).lower() in ("zfpy", "numpy"):
            m = re.match(r"\d+(?:\.\d+)*", v)
            return m.group(0) if m else v
        return v

    importlib.metadata.version = version  # type: ignore[assignment]
    try:
        yield
    finally:
        importlib.metadata.version = original  # type: ignore[assignment]


def _import_numcodecs() -> ModuleType:
    """``import numcodecs``, surviving numcodecs' zfpy version parse (see the module doc)."""
    try:
        return importlib.import_module("numcodecs")
    except ValueError as err:
        if not _raised_in_numcodecs_zfpy(err):
            raise
        first = err
    sys.modules.pop("numcodecs.zfpy", None)  # the failed attempt's half-made module
    try:
        with _zfpy_release_version():
            return importlib.import_module("numcodecs")
    except ValueError as err:  # pragma: no cover - a zfpy version we cannot mend
        raise RuntimeUnavailableError(
            f"numcodecs cannot be imported next to this zfpy ({first}); pip install "
            "'zfpy!=1.0.1.post0' or uninstall zfpy", feature="compress.zarr",
            extra="zarr") from err


try:
    _import_numcodecs()
    from numcodecs.abc import Codec
    from numcodecs.compat import ensure_contiguous_ndarray, ndarray_copy
    from numcodecs.registry import register_codec
except RuntimeUnavailableError:  # pragma: no cover
    raise
except ImportError as err:  # pragma: no cover - exercised by the no-extra install test
    raise RuntimeUnavailableError(
        "edgekit.compress.zarr needs numcodecs: pip install 'edgekit[zarr]'",
        feature="compress.zarr", extra="zarr") from err

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
        # flattened in memory order: zarr format 2 reshapes with the array's order (C or F)
        arr = decode(data).ravel(order="A")
        if out is None:
            return arr
        return ndarray_copy(arr, out)

    def get_config(self) -> dict[str, Any]:
        return {"id": self.codec_id, "tolerance": self.tolerance, "level": self.level}

    def __repr__(self) -> str:
        return f"EdgekitCodec(tolerance={self.tolerance!r}, level={self.level})"


register_codec(EdgekitCodec)
