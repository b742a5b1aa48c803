"""Bytes on the wire per shadow update: a delta report against a naive full-document publish
(docs/twin.md, "Bytes on the wire").

    python tools/twin_wire_bytes.py [--updates 1000] [--fields 16]

A simulated gateway keeps ``--fields`` reported values (readings, counters, versions),
reports them all once, then changes one or two readings and its uptime per update.  Per
update it counts the MQTT 3.1.1 bytes of the device's connection, through a real
``ShadowService.handle``: the request PUBLISH (QoS 1) and its PUBACK, the
``/update/accepted`` PUBLISH the device receives and its PUBACK.  "delta" publishes only the
changed keys; "full" publishes the whole reported state every time.  TLS adds ~22 bytes per
record on top of both.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgekit.twin import Shadows  # noqa: E402
from edgekit.twin.mqtt import ShadowService  # noqa: E402
from edgekit.twin.topics import shadow_topic  # noqa: E402


def publish_bytes(topic: str, payload: bytes) -> int:
    """An MQTT 3.1.1 QoS 1 PUBLISH: fixed header, topic, packet id, payload."""
    remaining = 2 + len(topic.encode()) + 2 + len(payload)
    length_bytes = 1 if remaining < 128 else 2 if remaining < 16384 else 3
    return 1 + length_bytes + remaining


PUBACK = 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--fields", type=int, default=16)
    args = parser.parse_args()
    rng = random.Random(19)
    state = {f"sensor_{i:02d}": round(rng.uniform(-20, 60), 1) for i in range(args.fields - 4)}
    state |= {"fw": "1.4.2", "uptime_s": 0, "rssi_dBm": -67, "battery_pct": 93}
    totals = {}
    for mode in ("delta", "full"):
        service = ShadowService(Shadows(), "127.0.0.1", 1, dedupe=0)
        topic = shadow_topic("gw-0001", "update")
        current = dict(state)
        first = json.dumps({"state": {"reported": current}}, separators=(",", ":")).encode()
        accepted0 = service.handle(topic, first)[0]
        total = publish_bytes(topic, first) + publish_bytes(*accepted0) + 2 * PUBACK
        for n in range(1, args.updates):
            changed = {k: round(rng.uniform(-20, 60), 1)
                       for k in rng.sample(sorted(state)[:args.fields - 4], rng.choice((1, 2)))}
            changed["uptime_s"] = n * 60
            current |= changed
            body = changed if mode == "delta" else current
            payload = json.dumps({"state": {"reported": body}, "clientToken": f"{n:08x}"},
                                 separators=(",", ":")).encode()
            out = service.handle(topic, payload)
            accepted = [(t, p) for t, p in out if t.endswith("/update/accepted")]
            assert len(accepted) == 1
            total += publish_bytes(topic, payload) + PUBACK
            total += publish_bytes(*accepted[0]) + PUBACK
        assert service._shadows.get("gw-0001")["state"]["reported"] == current
        totals[mode] = total / args.updates
    print(f"{args.fields} reported fields, 1-2 readings + uptime change per update, "
          f"{args.updates} updates")
    print(f"delta report: {totals['delta']:.0f} bytes/update; full document: "
          f"{totals['full']:.0f} bytes/update; ratio {totals['full'] / totals['delta']:.1f}x")


if __name__ == "__main__":
    main()
