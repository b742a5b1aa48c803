"""The article's per-reading record class, kept for comparison and for code written against it.

The article edgekit started from stores each reading as an instance of::

    class EfficientSensorData:
        __slots__ = ['timestamp', 'value', 'quality']

and claims ``__slots__`` saves 40% and that 100,000 records drop from 182 MB to 109 MB.  Measured
here (``python tools/memory_table.py``, see docs/memory.md) such records cost well over 100
bytes each, against 13 in a :class:`~edgekit.memory.ReadingStore` hot buffer and about 1 in a
sealed segment: use the store, and this class only at an API boundary.
"""

from __future__ import annotations

from edgekit.types import SensorReading

__all__ = ["ArticleSensorRecord"]


class ArticleSensorRecord:
    """One reading as the article's ``EfficientSensorData``: ``timestamp``, ``value`` and
    ``quality`` slots, no validation (as in the article), plus conversions to and from
    :class:`edgekit.types.SensorReading` (which validates)."""

    __slots__ = ["timestamp", "value", "quality"]  # noqa: RUF023 - the article's order

    def __init__(self, timestamp, value, quality):
        self.timestamp = timestamp
        self.value = value
        self.quality = quality

    def __repr__(self) -> str:
        return (f"ArticleSensorRecord(timestamp={self.timestamp!r}, value={self.value!r}, "
                f"quality={self.quality!r})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ArticleSensorRecord):
            return NotImplemented
        return (self.timestamp, self.value, self.quality) == (
            other.timestamp, other.value, other.quality)

    __hash__ = None  # type: ignore[assignment]  # mutable, like the article's

    def to_reading(self, channel: int = 0) -> SensorReading:
        """This record as a validated :class:`SensorReading` (timestamp taken as ns)."""
        return SensorReading(int(self.timestamp), float(self.value), int(self.quality), channel)

    @classmethod
    def from_reading(cls, reading: SensorReading) -> ArticleSensorRecord:
        return cls(reading.timestamp_ns, reading.value, reading.quality)
