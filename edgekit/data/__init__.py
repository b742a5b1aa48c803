"""Real data shipped with edgekit, for the demo, the tests and the benchmarks.

``sensors/``: real measured series (float64, NaNs dropped), each ``NAME.npy`` with a
``NAME.json`` of metadata (quantity, units, interval, decimals, origin); see
``sensors/PROVENANCE.md`` for where each came from.  Nothing here downloads anything.
"""

from __future__ import annotations

import io
import json
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from edgekit.errors import InputError

__all__ = ["list_series", "load_series", "series_info"]

_SENSORS = resources.files(__name__) / "sensors"


@cache
def list_series() -> tuple[str, ...]:
    """Names of the shipped sensor series, sorted."""
    return tuple(sorted(p.name[:-4] for p in _SENSORS.iterdir() if p.name.endswith(".npy")))


def _check(name: str) -> None:
    if name not in list_series():
        raise InputError(
            f"no shipped series {name!r}; choose one of {', '.join(list_series())}",
            name="name", expected=list_series(), got=name,
        )


def load_series(name: str) -> np.ndarray:
    """The series ``name`` as a new float64 array (its unit is in :func:`series_info`)."""
    _check(name)
    raw = (_SENSORS / f"{name}.npy").read_bytes()
    return np.load(io.BytesIO(raw), allow_pickle=False)


def series_info(name: str) -> dict[str, Any]:
    """The metadata of series ``name``: quantity, units, interval, n, decimals, source..."""
    _check(name)
    return json.loads((_SENSORS / f"{name}.json").read_text(encoding="utf-8"))
