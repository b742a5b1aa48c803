"""What a ReadingStore holds besides its readings, measured with tracemalloc: the store
itself, each channel, each sealed and each spilled segment.  These fixed costs decide what a
short series costs a reading (issue #16: river_waterflow_ls, 1,268 readings, meets 2 bytes a
reading only because they are small) and what a gateway with many small stores pays.

Figures at the time of writing (CPython 3.11): an empty store 352 B; a further channel with
one sealed segment 246 B beside the segment's bytes (the channel object, its list of
segments, its dict entry and id); a further sealed segment 8-9 B beside its bytes (a list
slot: the index entry *is* the segment's bytes, its header read in place); a further spilled
segment 86-87 B (its 36-byte header and sequence number in one bytes object).  Before they were
488, 482, 188 and 257 B.  The bounds below leave room for interpreter differences, not for a
Python object per segment."""

from __future__ import annotations

from tests.memory._fresh import fresh

_SETUP = "from pathlib import Path\nfrom edgekit.memory import _fixed"


def _fixed(expr: str) -> float:
    """A figure of edgekit.memory._fixed, measured in a fresh interpreter (see _fresh.py)."""
    value = fresh(expr, setup=_SETUP)
    assert isinstance(value, (int, float))
    return float(value)


def test_an_empty_store_is_small():
    # 352 B: the object, its lock, its channel dict
    assert 100 < _fixed("_fixed.empty_store()") <= 400


def test_a_store_with_one_sealed_segment_is_small():
    assert 300 < _fixed("_fixed.sealed(1, 1)") <= 1100  # 824 B; was 1,228 B


def test_a_sealed_segment_costs_a_list_slot_beside_its_bytes():
    per_segment = _fixed("_fixed.per_segment()")
    assert 0 < per_segment <= 24, per_segment  # 8 B; was 188 B with an object per segment


def test_a_channel_costs_a_few_hundred_bytes():
    per_channel = _fixed("_fixed.per_channel()")
    assert 100 < per_channel <= 320, per_channel  # 246 B; was 482 B


def test_a_spilled_segment_keeps_its_header_only(tmp_path):
    per_segment = _fixed(f"_fixed.per_spilled_segment(directory=Path({str(tmp_path)!r}))")
    assert 0 < per_segment <= 120, per_segment  # 86 B; was 257 B
