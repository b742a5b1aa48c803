"""MQTT 3.1.1 bytes on the wire of shadow updates: a delta report against a naive
full-document publish.  Shared by ``tools/twin_wire_bytes.py``, ``benchmarks/bench_twin.py``
and the demo (docs/twin.md, "Bytes on the wire")."""

from __future__ import annotations

import json
import random

from edgekit.twin.shadows import Shadows
from edgekit.twin.topics import shadow_topic

PUBACK = 4  # bytes of an MQTT 3.1.1 PUBACK


def publish_bytes(topic: str, payload: bytes) -> int:
    """An MQTT 3.1.1 QoS 1 PUBLISH: fixed header, topic, packet id, payload."""
    remaining = 2 + len(topic.encode()) + 2 + len(payload)
    length_bytes = 1 if remaining < 128 else 2 if remaining < 16384 else 3 \
        if remaining < 2_097_152 else 4
    return 1 + length_bytes + remaining


def gateway_bytes_per_update(mode: str, *, fields: int = 16, updates: int = 1000,
                             seed: int = 19) -> float:
    """Mean bytes per update on a device's connection (request PUBLISH + PUBACK, the
    ``/update/accepted`` it receives + PUBACK) for a gateway with ``fields`` reported values
    that reports all once, then changes one or two readings and its uptime per update.
    ``mode``: ``"delta"`` publishes the changed keys, ``"full"`` the whole reported state.
    The answers are the ``Shadows`` core's accepted documents, compact JSON as
    ``ShadowService`` publishes them."""
    if mode not in ("delta", "full"):
        raise ValueError(f"mode must be 'delta' or 'full', not {mode!r}")
    rng = random.Random(seed)
    names = [f"sensor_{i:02d}" for i in range(fields - 4)]
    state: dict[str, object] = {k: round(rng.uniform(-20, 60), 1) for k in names}
    state |= {"fw": "1.4.2", "uptime_s": 0, "rssi_dBm": -67, "battery_pct": 93}
    topic = shadow_topic("gw-0001", "update")
    accepted_topic = shadow_topic("gw-0001", "update", "accepted")
    shadows = Shadows()

    def answer(payload: bytes) -> int:
        doc = shadows.update("gw-0001", payload)
        body = json.dumps(doc, separators=(",", ":")).encode()
        return publish_bytes(accepted_topic, body)

    first = json.dumps({"state": {"reported": state}}, separators=(",", ":")).encode()
    total = publish_bytes(topic, first) + answer(first) + 2 * PUBACK
    current = dict(state)
    for n in range(1, updates):
        changed: dict[str, object] = {k: round(rng.uniform(-20, 60), 1)
                                      for k in rng.sample(names, rng.choice((1, 2)))}
        changed["uptime_s"] = n * 60
        current |= changed
        body = changed if mode == "delta" else current
        payload = json.dumps({"state": {"reported": body}, "clientToken": f"{n:08x}"},
                             separators=(",", ":")).encode()
        total += publish_bytes(topic, payload) + answer(payload) + 2 * PUBACK
    if shadows.get("gw-0001")["state"]["reported"] != current:
        raise AssertionError("the shadow lost an update")
    return total / updates
