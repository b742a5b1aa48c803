"""Device shadows (digital twins) with the AWS IoT Device Shadow contract.

* :class:`Shadows`: the transport-free service: ``update`` / ``get`` / ``delete`` of classic
  and named shadows with desired / reported / delta state, per-leaf metadata, versions and
  the service's limits; refusals raise :class:`~edgekit.errors.ShadowError` with the
  service's numeric ``code``.
* :class:`SQLiteShadowStore`: the durable default store (WAL, one transaction per accepted
  change, a gapless version history); :class:`ShadowStore` is the interface another database
  implements.

* :func:`summarize_readings` / :func:`summarize_store`: bulk readings as an
  :mod:`edgekit.compress` frame for a bulk channel and a small summary for ``state.reported``;
  :func:`open_frame` checks a received frame against the summary and decodes it.

* :mod:`edgekit.twin.mqtt` (extra ``[twin]``: paho-mqtt): :class:`~edgekit.twin.mqtt.ShadowService`
  serves the AWS shadow topics from a ``Shadows``; :class:`~edgekit.twin.mqtt.ShadowClient` is
  the device side, with a persistent offline queue.  Imported on demand, so the core needs
  nothing beyond the standard library.

See ``docs/twin.md`` for every rule and its reference.
"""

from __future__ import annotations

from edgekit.errors import ShadowError
from edgekit.twin._document import ShadowLimits
from edgekit.twin.shadows import Shadows, UpdateResult, document
from edgekit.twin.store import HistoryEntry, ShadowStore, SQLiteShadowStore, StoredShadow
from edgekit.twin.telemetry import (
    TelemetryBatch,
    open_frame,
    summarize_readings,
    summarize_store,
)

__all__ = [
    "HistoryEntry",
    "SQLiteShadowStore",
    "ShadowError",
    "ShadowLimits",
    "ShadowStore",
    "Shadows",
    "StoredShadow",
    "TelemetryBatch",
    "UpdateResult",
    "document",
    "open_frame",
    "summarize_readings",
    "summarize_store",
]
