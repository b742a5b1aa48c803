"""Compact storage of sensor readings on a gateway.

* :class:`ReadingStore`: columnar hot buffers per channel (17 bytes a reading with float64
  values, 13 with float32: values keep the dtype they were given), sealed into compressed
  segments when full, queried by time range across both, under a memory budget with a policy
  (refuse, drop oldest, spill to a directory that survives a restart).  See
  :mod:`edgekit.memory.store` for the model and the durability contract.
* :class:`BufferPool`, :class:`ObjectPool`: bounded pools of reusable numpy buffers and
  objects, with statistics.
* :func:`measure`, :func:`rss_bytes`: what a structure really costs, by tracemalloc and RSS.
* :class:`ArticleSensorRecord`: the ``__slots__`` record class of the article edgekit started
  from, kept for comparison and compatibility.
"""

from edgekit.memory.accounting import Measurement, measure, rss_bytes
from edgekit.memory.compat import ArticleSensorRecord
from edgekit.memory.pool import BufferPool, ObjectPool, PoolStats
from edgekit.memory.store import (
    POLICIES,
    ChannelReadings,
    ChannelView,
    Readings,
    ReadingStore,
    StoreOptions,
    StoreStats,
)

__all__ = [
    "POLICIES",
    "ArticleSensorRecord",
    "BufferPool",
    "ChannelReadings",
    "ChannelView",
    "Measurement",
    "ObjectPool",
    "PoolStats",
    "ReadingStore",
    "Readings",
    "StoreOptions",
    "StoreStats",
    "measure",
    "rss_bytes",
]
