"""``edgekit demo`` section: a month of real readings in a ReadingStore, measured beside the
article's ``__slots__`` record class."""

from __future__ import annotations

import sys
import tempfile
import time
from typing import TextIO

import numpy as np

from edgekit._demo import DemoRow
from edgekit.memory import ArticleSensorRecord, ReadingStore, measure
from edgekit.memory._layouts import PlainRecord, warm_up
from edgekit.memory._series import readings

SERIES = "payerne_temp_C"


def run(out: TextIO) -> list[DemoRow]:
    t, v, q = readings(SERIES)
    n = t.size
    print(f"  {SERIES}: {n:,} readings, one a minute (June 2016), {int((q != 0).sum())} "
          f"flagged by the step test; Python {sys.version.split()[0]}", file=out)

    def records(cls):
        return [cls(a, b, c) for a, b, c in zip(t.tolist(), v.tolist(), q.tolist(),
                                                strict=True)]

    warm_up()
    _, plain = measure(lambda: records(PlainRecord))
    _, slots = measure(lambda: records(ArticleSensorRecord))

    def hot_store():
        s = ReadingStore(segment_size=65536)
        s.extend(t, v, q)
        return s

    hot, m_hot = measure(hot_store)
    t0 = time.perf_counter()
    hot.seal()
    seal_ms = 1e3 * (time.perf_counter() - t0)

    def sealed_store():
        s = ReadingStore(segment_size=4096)
        s.extend(t, v, q)
        s.seal()
        return s

    sealed, m_sealed = measure(sealed_store)
    r = sealed.query(int(t[1440 * 10]), int(t[1440 * 11]))  # one day
    assert np.array_equal(r.timestamps_ns, t[14400:15840])
    assert np.array_equal(r.values.view(np.uint64), v[14400:15840].view(np.uint64))  # exact
    saved = 1 - slots.per(n) / plain.per(n)
    print("  bytes per reading, measured with tracemalloc:", file=out)
    for label, b in (("plain class in a list", plain.per(n)),
                     ("the article's __slots__ class in a list", slots.per(n)),
                     ("ReadingStore, hot numpy columns", m_hot.per(n)),
                     ("ReadingStore, sealed segments", m_sealed.per(n))):
        print(f"    {label:<42} {b:8.2f}", file=out)
    print(f"  __slots__ saves {100 * saved:.0f}% over the plain class (the article: 40%); the "
          f"sealed store is {slots.per(n) / m_sealed.per(n):.0f}x smaller than the slots "
          f"records, and lossless (float64 values bit for bit)", file=out)
    print(f"  sealing the hot month took {seal_ms:.1f} ms; a one-day query returned "
          f"{r.timestamps_ns.size} readings", file=out)

    with tempfile.TemporaryDirectory() as d:
        opts = {"segment_size": 512, "budget_bytes": 24_000}
        drop = ReadingStore(policy="drop_oldest", **opts)
        spill = ReadingStore(policy="spill", spill_dir=d, **opts)
        for s in (drop, spill):
            for a in range(0, n, 1000):
                s.extend(t[a:a + 1000], v[a:a + 1000], q[a:a + 1000])
        spill.close()
        reopened = ReadingStore(policy="spill", spill_dir=d, **opts)
        st = drop.stats()
        print(f"  24 kB budget: drop_oldest kept {len(drop):,} and counted {st.dropped_readings:,}"
              f" dropped; spill kept all {len(reopened):,} after a reopen "
              f"({reopened.stats().disk_bytes:,} bytes on disk)", file=out)
        reopened.close()
    return [
        DemoRow(f"bytes/reading, {SERIES} ({n:,})",
                f"{m_hot.per(n):.1f} hot, {m_sealed.per(n):.2f} sealed",
                "slots class: 1,090 (109 MB / 100k)"),
        DemoRow("__slots__ saving vs a plain class", f"{100 * saved:.0f}% (measured)", "40%"),
    ]
