"""``edgekit demo`` section: a device shadow on the durable SQLite store (in a temporary
directory, no broker): desired state from the cloud reaches the device as a delta, the device
reports it and a week of real readings beside the twin (compress frames, summaries in the
shadow), a stale version is refused, the store is reopened as after a restart, and the bytes
per update of a delta report are set against a full-document publish."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from edgekit import _telemetry
from edgekit._demo import DemoRow
from edgekit.data import load_series
from edgekit.errors import ShadowError
from edgekit.twin import Shadows, SQLiteShadowStore, open_frame, summarize_readings
from edgekit.twin._wire import gateway_bytes_per_update

THING = "station-pay"
SERIES = "payerne_temp_C"
DAYS = 7


def run(out: TextIO) -> list[DemoRow]:
    events: dict[str, int] = {}

    def count(event: str, fields: dict[str, Any]) -> None:
        key = event if event != "twin.reject" else f"{event} {fields.get('code')}"
        events[key] = events.get(key, 0) + int(fields.get("accepted", 1))

    _telemetry.add_sink(count)
    try:
        with tempfile.TemporaryDirectory(prefix="edgekit-twin-") as tmp:
            rows = _run(Path(tmp) / "shadows.db", out)
    finally:
        _telemetry.remove_sink(count)
    print("  telemetry events of the above (what edgekit.metrics exports): "
          + ", ".join(f"{k} x{v}" for k, v in sorted(events.items())), file=out)
    delta_b = gateway_bytes_per_update("delta", fields=16, updates=200)
    full_b = gateway_bytes_per_update("full", fields=16, updates=200)
    print(f"  MQTT bytes per update, 16 reported fields: delta report {delta_b:.0f} B, "
          f"full document {full_b:.0f} B ({full_b / delta_b:.1f}x)", file=out)
    return [*rows, DemoRow("MQTT bytes per update: delta vs full document",
                           f"{delta_b:.0f} vs {full_b:.0f} B ({full_b / delta_b:.1f}x)",
                           "no code")]


def _run(path: Path, out: TextIO) -> list[DemoRow]:
    x = load_series(SERIES)
    t = 1_464_739_200 * 10**9 + np.arange(len(x), dtype=np.int64) * 60 * 10**9
    frames: dict[str, bytes] = {}
    with Shadows(SQLiteShadowStore(str(path))) as shadows:
        # the cloud asks for a setting; the device sees the delta, applies it, reports it
        shadows.update(THING, json.dumps({"state": {"desired": {"sample_s": 60,
                                                                "mode": "eco"}}}))
        delta = shadows.get(THING)["state"]["delta"]
        print(f"  cloud set desired; the device gets delta {json.dumps(delta)}", file=out)
        shadows.update(THING, json.dumps({"state": {"reported": dict(delta, fw="1.4.2")}}))
        # bulk readings go beside the twin: one frame a day, the summary in reported
        for d in range(DAYS):
            day = f"2016-06-{d + 1:02d}"
            batch = summarize_readings(t[d * 1440:(d + 1) * 1440], x[d * 1440:(d + 1) * 1440],
                                       decimals=2)
            frames[day] = batch.frame
            shadows.update(THING, json.dumps(
                {"state": {"reported": {"air_temp_C": {"day": day, **batch.summary}}}}))
        doc = shadows.get(THING)
        version = doc["version"]
        try:
            shadows.update(THING, json.dumps({"state": {"desired": {"mode": "boost"}},
                                              "version": version - 1}))
            raise AssertionError("a stale version was accepted")
        except ShadowError as error:
            refused = error.code
        print(f"  version {version}, no delta: {'delta' not in doc['state']}; an update "
              f"carrying version {version - 1} was refused with {refused}", file=out)
    # a restart: reopen the file; the document and its gapless history are there
    with Shadows(SQLiteShadowStore(str(path))) as again:
        reopened = again.get(THING)
        history = [h.version for h in again.history(THING)]
    assert reopened["state"] == doc["state"] and history == list(range(1, version + 1))
    summary = reopened["state"]["reported"]["air_temp_C"]
    _, values = open_frame(frames[summary["day"]], summary)
    assert values.tobytes() == x[(DAYS - 1) * 1440:DAYS * 1440].tobytes()
    frame_bytes = sum(len(f) for f in frames.values())
    summary_bytes = len(json.dumps(summary))
    print(f"  reopened {path.name}: version {reopened['version']}, history 1..{history[-1]} "
          f"without a gap", file=out)
    print(f"  {DAYS} days of {SERIES} ({DAYS * 1440:,} readings, {DAYS * 1440 * 16:,} B raw) "
          f"-> {frame_bytes:,} B of frames beside the twin; the shadow carries a "
          f"{summary_bytes} B summary (mean {summary['mean']} degC, last {summary['last']}); "
          f"the cloud checked the frame's SHA-256 and decoded it exactly", file=out)
    return [
        DemoRow("device shadow, durable SQLite store",
                f"v{version}, delta applied, stale version {refused}, reopened gapless",
                "no code"),
        DemoRow("readings beside the twin (frames + summary)",
                f"{DAYS * 1440 * 16:,} B -> {frame_bytes:,} B + {summary_bytes} B summary",
                "no code"),
    ]
