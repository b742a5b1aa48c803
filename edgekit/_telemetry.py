"""In-process events from every subsystem, for :mod:`edgekit.metrics` (or a user's own sink).

Subsystems call :func:`emit` once per operation (never per element); with no sink registered
that is one truth test, so the core has no dependency on Prometheus or anything else.
:mod:`edgekit.metrics` registers a sink that turns the events into Prometheus instruments.

Events and their fields (units in the names; every field optional unless noted):

============================  ================================================================
event                         fields
============================  ================================================================
``compress.encode``           ``bytes_in``, ``bytes_out``, ``seconds``, ``lossless`` (bool)
``compress.decode``           ``bytes_in``, ``bytes_out``, ``seconds``
``compress.corrupt``          ``reason`` (str)
``schedule.place``            ``policy`` (str), ``mode`` (str), ``placed``, ``rejected``,
                              ``seconds``
``infer.detect``              ``model`` (str), ``preprocess_s``, ``invoke_s``,
                              ``postprocess_s``, ``detections``
``secure.seal``               ``bytes``
``secure.open``               ``bytes``
``secure.failure``            ``kind`` (``"envelope"``, ``"certificate"``, ``"artifact"``,
                              ``"tls"``), ``reason`` (str)
``memory.append``             ``readings``
``memory.seal``               ``readings``, ``bytes_in``, ``bytes_out``
``memory.drop``               ``readings``, ``reason`` (str)
``memory.usage``              ``nbytes``
``aio.request``               ``outcome`` (``"ok"``, ``"error"``, ``"timeout"``,
                              ``"cancelled"``), ``seconds``, ``attempts``
``update.apply``              ``method`` (str), ``bytes``, ``outcome`` (``"ok"`` or a reason)
``twin.update``               ``accepted`` (shadow updates committed by one call)
``twin.reject``               ``op`` (``"update"``, ``"get"``, ``"delete"``), ``code`` (the
                              service's numeric code; 409 is a version conflict)
``twin.queue``                ``depth`` (reports a device has queued, not yet accepted)
``twin.sync``                 ``lag_s`` (from a report being queued to its acceptance)
``market.round``              ``mechanism`` (str), ``trades``, ``welfare_per_h``,
                              ``payments_per_h``, ``receipts_per_h``, ``utilization``
============================  ================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Sink = Callable[[str, dict[str, Any]], None]

_SINKS: list[Sink] = []


def add_sink(sink: Sink) -> None:
    """Call ``sink(event, fields)`` for every event from now on."""
    if sink not in _SINKS:
        _SINKS.append(sink)


def remove_sink(sink: Sink) -> None:
    """Stop calling ``sink`` (no error if it was not registered)."""
    if sink in _SINKS:
        _SINKS.remove(sink)


def enabled() -> bool:
    """True when some sink listens: lets a caller skip measuring what nobody reads."""
    return bool(_SINKS)


def emit(event: str, **fields: Any) -> None:
    """Send ``event`` to every sink.  A sink's exception propagates: a broken sink is a bug
    to see, not to hide."""
    if not _SINKS:
        return
    for sink in tuple(_SINKS):
        sink(event, fields)
