"""The article's record class."""

from __future__ import annotations

import pytest

from edgekit.errors import InputError
from edgekit.memory import ArticleSensorRecord
from edgekit.types import SensorReading


def test_article_record_is_slotted_and_converts():
    r = ArticleSensorRecord(1_000, 21.5, 0)
    assert not hasattr(r, "__dict__")
    with pytest.raises(AttributeError):
        r.unit = "C"  # type: ignore[attr-defined]
    s = r.to_reading(channel=4)
    assert s == SensorReading(1_000, 21.5, 0, 4)
    assert ArticleSensorRecord.from_reading(s) == r
    assert "21.5" in repr(r)
    with pytest.raises(InputError):
        ArticleSensorRecord(1, 2.0, 999).to_reading()
