"""The record layouts the memory benchmarks compare, each built from the same columns.

Every builder takes (timestamps_ns int64, values float64, qualities uint8) numpy columns and
returns the structure a program would keep: a list of per-reading records (dict, plain class,
the article's ``__slots__`` class, a slotted dataclass, a NamedTuple), numpy columns, or a
:class:`~edgekit.memory.ReadingStore` (hot, or sealed).  The per-record layouts hold Python
ints and floats made for them, as a program parsing readings would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from edgekit.memory.compat import ArticleSensorRecord
from edgekit.memory.store import ReadingStore


class PlainRecord:
    def __init__(self, timestamp, value, quality):
        self.timestamp = timestamp
        self.value = value
        self.quality = quality


@dataclass(slots=True)
class SlotsDataclassRecord:
    timestamp: int
    value: float
    quality: int


class TupleRecord(NamedTuple):
    timestamp: int
    value: float
    quality: int


def _records(cls: Callable[..., Any]) -> Callable[[np.ndarray, np.ndarray, np.ndarray], Any]:
    def build(t: np.ndarray, v: np.ndarray, q: np.ndarray) -> list[Any]:
        return [cls(a, b, c) for a, b, c in zip(t.tolist(), v.tolist(), q.tolist(),
                                                strict=True)]
    return build


def _dicts(t: np.ndarray, v: np.ndarray, q: np.ndarray) -> list[dict[str, Any]]:
    return [{"timestamp": a, "value": b, "quality": c}
            for a, b, c in zip(t.tolist(), v.tolist(), q.tolist(), strict=True)]


def _columns(t: np.ndarray, v: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, ...]:
    return t.astype(np.int64), v.astype(np.float32), q.astype(np.uint8)


def _columns64(t: np.ndarray, v: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, ...]:
    return t.astype(np.int64), v.astype(np.float64), q.astype(np.uint8)


def _hot(t: np.ndarray, v: np.ndarray, q: np.ndarray) -> ReadingStore:
    store = ReadingStore(segment_size=max(16, t.size))
    store.extend(t, v, q)
    return store


def _sealed(t: np.ndarray, v: np.ndarray, q: np.ndarray) -> ReadingStore:
    store = ReadingStore(segment_size=4096)
    store.extend(t, v, q)
    store.seal()
    return store


def warm_up(series: tuple[str, ...] | None = None) -> None:
    """Seal every shipped series once (with and without clock jitter), so that the working
    memory :mod:`edgekit.compress` keeps per thread and grows on first use of each model
    (a few hundred kB, once per process and thread, whatever the number of stores) is not
    counted in the measurement of one store.  ``series``: the shipped series to use (all by
    default)."""
    from edgekit.memory._series import SERIES, readings

    for name in series or SERIES:
        for jitter in (0, 2_000_000):
            store = ReadingStore(segment_size=4096)
            store.extend(*readings(name, jitter_ns=jitter))
            store.seal()
            store.query()


LAYOUTS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], Any]] = {
    "dict per reading": _dicts,
    "plain class": _records(PlainRecord),
    "__slots__ class (the article's)": _records(ArticleSensorRecord),
    "dataclass(slots=True)": _records(SlotsDataclassRecord),
    "NamedTuple": _records(TupleRecord),
    "numpy columns (int64, float32, uint8)": _columns,
    "numpy columns (int64, float64, uint8)": _columns64,
    "ReadingStore, hot": _hot,
    "ReadingStore, sealed": _sealed,
}
OBJECT_LAYOUTS = tuple(list(LAYOUTS)[:5])
