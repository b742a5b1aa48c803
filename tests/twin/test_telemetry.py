"""Telemetry beside the twin: a shipped real series goes through an edgekit.memory
ReadingStore, each day becomes an edgekit.compress frame (bulk channel) and a summary that
the device reports through the real Shadows core; the cloud side reads the shadow, checks
each frame against its summary and gets the readings back."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgekit.data import load_series
from edgekit.errors import CorruptDataError, InputError, InputTypeError
from edgekit.memory import ReadingStore
from edgekit.twin import Shadows, open_frame, summarize_readings, summarize_store

DAY_NS = 86_400 * 10**9
START_NS = 1_464_739_200 * 10**9      # 2016-06-01T00:00Z, the month the series covers


def _payerne():
    x = load_series("payerne_temp_C")  # 1-minute air temperature, degC, 43,200 readings
    t = START_NS + np.arange(len(x), dtype=np.int64) * 60 * 10**9
    return t, x


def test_daily_frames_and_summaries_through_a_reading_store_and_the_shadow_core():
    t, x = _payerne()
    store = ReadingStore()
    store.extend(t, x)
    store.seal()
    shadows = Shadows()
    frames: dict[str, bytes] = {}
    days = 7
    for d in range(days):
        batch = summarize_store(store, START_NS + d * DAY_NS, START_NS + (d + 1) * DAY_NS,
                                decimals=2)
        day = f"2016-06-{d + 1:02d}"
        frames[day] = batch.frame                   # the bulk channel
        request = {"state": {"reported": {"air_temp_C": {"day": day, **batch.summary}}}}
        accepted = shadows.update("station-pay", json.dumps(request))
        assert accepted["version"] == d + 1
        # the summary is a small part of the 8 KiB state, the day's readings are not
        assert len(json.dumps(accepted["state"])) < 512 < 1440 * 16
        assert batch.summary["frame_bytes"] * 10 < batch.summary["raw_bytes"]
    # the cloud: the shadow holds the last day's summary; every frame checks and decodes
    doc = shadows.get("station-pay")
    summary = doc["state"]["reported"]["air_temp_C"]
    assert summary["day"] == f"2016-06-{days:02d}" and summary["n"] == 1440
    tt, vv = open_frame(frames[summary["day"]], summary)
    lo, hi = (days - 1) * 1440, days * 1440
    assert np.array_equal(tt, t[lo:hi]) and vv.tobytes() == x[lo:hi].tobytes()
    assert summary["min"] == round(float(x[lo:hi].min()), 2)
    assert summary["max"] == round(float(x[lo:hi].max()), 2)
    assert summary["mean"] == round(float(x[lo:hi].mean()), 2)
    assert summary["last"] == round(float(x[hi - 1]), 2)
    assert summary["t0_ms"] == t[lo] // 10**6 and summary["t1_ms"] == t[hi - 1] // 10**6
    # each reported summary is in the shadow's history, and checks its own frame only
    history = shadows.history("station-pay")
    assert [h.version for h in history] == list(range(1, days + 1))
    for entry in history:
        s = json.loads(entry.request)["state"]["reported"]["air_temp_C"]
        assert len(open_frame(frames[s["day"]], s)[1]) == 1440
        other = frames["2016-06-01" if s["day"] != "2016-06-01" else "2016-06-02"]
        with pytest.raises(CorruptDataError):
            open_frame(other, s)


def test_lossy_frame_stays_within_tolerance_and_is_smaller():
    t, x = _payerne()
    lossless = summarize_readings(t, x)
    lossy = summarize_readings(t, x, tolerance=0.25)
    assert lossy.summary["tolerance"] == 0.25 and lossless.summary["tolerance"] == 0
    assert lossy.summary["frame_bytes"] < lossless.summary["frame_bytes"]
    _, v = open_frame(lossy.frame, lossy.summary)
    assert np.max(np.abs(v - x)) <= 0.25 + 1e-12
    # the full-precision statistics are the data's
    assert lossless.summary["mean"] == float(np.mean(x))
    assert lossless.summary["n"] == lossless.summary["finite"] == len(x)


def test_damaged_or_swapped_frames_are_refused():
    t, x = _payerne()
    batch = summarize_readings(t[:1440], x[:1440])
    damaged = bytearray(batch.frame)
    damaged[len(damaged) // 2] ^= 0x10
    for frame in (bytes(damaged), batch.frame[:-1], batch.frame + b"\0"):
        with pytest.raises(CorruptDataError):
            open_frame(frame, batch.summary)
    forged = dict(batch.summary, n=1439)   # digest right, count wrong
    with pytest.raises(CorruptDataError):
        open_frame(batch.frame, forged)
    with pytest.raises(InputTypeError):
        open_frame(batch.frame, "not a summary")  # type: ignore[arg-type]


def test_gaps_and_integer_readings_give_valid_json_for_the_shadow():
    t, x = _payerne()
    y = x[:600].copy()
    y[[0, 10, 599]] = np.nan                 # sensor dropouts, the last reading among them
    batch = summarize_readings(t[:600], y, decimals=1)
    s = batch.summary
    assert s["n"] == 600 and s["finite"] == 597
    assert s["last"] == round(float(y[598]), 1)
    Shadows().update("st", json.dumps({"state": {"reported": {"temp": s}}}, allow_nan=False))
    nothing = summarize_readings(t[:3], np.full(3, np.nan))
    assert nothing.summary["finite"] == 0 and nothing.summary["min"] is None
    counts = np.round(x[:600] * 10).astype(np.int32)    # decidegrees, as an ADC would give
    ints = summarize_readings(t[:600], counts).summary
    assert ints["min"] == int(counts.min()) and isinstance(ints["min"], int)
    assert open_frame(summarize_readings(t[:600], counts).frame, ints)[1].dtype == np.int32


def test_bad_batches_are_refused_clearly():
    t, x = _payerne()
    with pytest.raises(InputError):
        summarize_readings(t[:0], x[:0])
    with pytest.raises(InputError):
        summarize_readings(t[:10], x[:9])
    with pytest.raises(InputError):
        summarize_readings(t[:10][::-1], x[:10])
    with pytest.raises(InputError):
        summarize_readings(t[:10].reshape(2, 5), x[:10].reshape(2, 5))
    with pytest.raises(InputTypeError):
        summarize_readings(t[:10].astype(float), x[:10])
    with pytest.raises(InputTypeError):
        summarize_readings(t[:3], np.array(["a", "b", "c"]))
