"""Telemetry beside the twin: bulk readings travel as edgekit.compress frames, the shadow's
reported state carries only their summary.

A shadow's state is limited to 8 KiB and every update is a versioned, durable write: the
wrong place for a day of one-minute readings.  :func:`summarize_readings` (or
:func:`summarize_store` for an :class:`edgekit.memory.ReadingStore`) turns a batch into

* ``frame``: one :func:`edgekit.compress.encode_series` record (timestamps exact, values
  lossless or within ``tolerance``), for the bulk channel (an MQTT topic of its own, an
  object store, a file);
* ``summary``: a small JSON object for ``state.reported`` (count, min / max / mean, last
  value, time span, the frame's size and SHA-256), so the twin tells the cloud what the
  device has and the cloud can check the frame it receives against it
  (:func:`open_frame`).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgekit import compress
from edgekit.errors import CorruptDataError, InputError, InputTypeError

__all__ = ["TelemetryBatch", "open_frame", "summarize_readings", "summarize_store"]


@dataclass(frozen=True)
class TelemetryBatch:
    """A batch of readings ready to send: the bulk frame and the summary for the twin.

    Attributes:
        frame: the :func:`edgekit.compress.encode_series` record (bytes).
        summary: a JSON-serialisable dict for ``state.reported``: ``n`` (readings),
            ``finite`` (readings that are not NaN/inf), ``min``, ``max``, ``mean`` and ``last``
            (over the finite values, in the readings' unit; ``None`` when none is finite),
            ``t0_ms`` / ``t1_ms`` (first and last timestamp, epoch milliseconds),
            ``frame_bytes``, ``raw_bytes`` (timestamps + values as given), ``sha256`` (hex
            digest of ``frame``) and ``tolerance`` (absolute error bound of the values,
            ``0`` when lossless).
    """

    frame: bytes
    summary: dict[str, Any]


def _number(x: Any, decimals: int | None) -> float | int | None:
    value = x.item() if hasattr(x, "item") else x
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return round(value, decimals) if decimals is not None else value
    return value


def summarize_readings(timestamps_ns: Any, values: Any, *, tolerance: float | None = None,
                       decimals: int | None = None, level: int = 5) -> TelemetryBatch:
    """Encode a batch of readings and summarise it for the shadow.

    Args:
        timestamps_ns: 1-D integer timestamps, nanoseconds since the epoch, in time order.
        values: 1-D numeric values (any dtype :func:`edgekit.compress.encode` takes), one per
            timestamp.
        tolerance: absolute error allowed on the values in the frame (``None``: lossless).
        decimals: round ``min``, ``max``, ``mean`` and ``last`` of float values to this many
            decimals in the summary (``None``: full precision); the frame is not affected.
        level: the codec's effort level.

    Raises:
        InputError: empty batch, lengths differ, not 1-D, timestamps not in order.
        InputTypeError: timestamps not integers, values not numeric.
    """
    t = np.asarray(timestamps_ns)
    v = np.asarray(values)
    if t.ndim != 1 or v.ndim != 1:
        raise InputError("timestamps and values must be 1-D", name="values", expected="1-D",
                         got=(t.shape, v.shape))
    if t.dtype.kind not in "iu":
        raise InputTypeError("timestamps must be integer nanoseconds", name="timestamps_ns",
                             expected="int64", got=str(t.dtype))
    if v.dtype.kind not in "iuf":
        raise InputTypeError("values must be numeric", name="values", expected="int or float",
                             got=str(v.dtype))
    if len(t) != len(v):
        raise InputError("one timestamp per value", name="values", expected=len(t),
                         got=len(v))
    if len(t) == 0:
        raise InputError("an empty batch has nothing to summarise", name="values",
                         expected=">= 1 reading", got=0)
    t = t.astype(np.int64, copy=False)
    if len(t) > 1 and bool(np.any(np.diff(t) < 0)):
        raise InputError("timestamps must be in time order", name="timestamps_ns")
    frame = compress.encode_series(t, v, tolerance=tolerance, level=level)
    finite = v if v.dtype.kind in "iu" else v[np.isfinite(v)]
    stats: dict[str, Any] = {"min": None, "max": None, "mean": None, "last": None}
    if len(finite):
        stats = {"min": _number(finite.min(), decimals), "max": _number(finite.max(), decimals),
                 "mean": _number(float(np.mean(finite, dtype=np.float64)), decimals),
                 "last": _number(finite[-1], decimals)}
    summary = {"n": int(len(v)), "finite": int(len(finite)), **stats,
               "t0_ms": int(t[0]) // 1_000_000, "t1_ms": int(t[-1]) // 1_000_000,
               "frame_bytes": len(frame), "raw_bytes": int(t.nbytes + v.nbytes),
               "sha256": hashlib.sha256(frame).hexdigest(),
               "tolerance": float(tolerance) if tolerance else 0}
    return TelemetryBatch(frame, summary)


def summarize_store(store: Any, t0_ns: int | None = None, t1_ns: int | None = None, *,
                    channel: int = 0, tolerance: float | None = None,
                    decimals: int | None = None, level: int = 5) -> TelemetryBatch:
    """:func:`summarize_readings` of one channel of an :class:`edgekit.memory.ReadingStore`,
    readings with ``t0_ns <= timestamp < t1_ns`` (``None``: unbounded)."""
    readings = store.query(t0_ns, t1_ns, channel=channel)
    return summarize_readings(readings.timestamps_ns, readings.values, tolerance=tolerance,
                              decimals=decimals, level=level)


def open_frame(frame: bytes, summary: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The cloud side: check a received frame against the summary the twin carries, then
    decode it to ``(timestamps_ns, values)``.

    Raises:
        CorruptDataError: the frame's size or SHA-256 differ from the summary's, or its
            reading count or time span does not match (or the frame itself is corrupt).
    """
    if not isinstance(summary, dict):
        raise InputTypeError("summary must be the dict from the shadow", name="summary",
                             expected="dict", got=type(summary).__name__)
    if len(frame) != summary.get("frame_bytes") or \
            hashlib.sha256(frame).hexdigest() != summary.get("sha256"):
        raise CorruptDataError("the frame is not the one the twin's summary describes",
                               reason="digest mismatch")
    t, v = compress.decode_series(frame)
    if len(v) != summary.get("n") or int(t[0]) // 1_000_000 != summary.get("t0_ms") \
            or int(t[-1]) // 1_000_000 != summary.get("t1_ms"):
        raise CorruptDataError("the frame's readings do not match the twin's summary",
                               reason="summary mismatch")
    return t, v
