"""Bytes on the wire per shadow update: a delta report against a naive full-document publish
(docs/twin.md, "Bytes on the wire").

    python tools/twin_wire_bytes.py [--updates 1000] [--fields 16]

A simulated gateway keeps ``--fields`` reported values (readings, counters, versions),
reports them all once, then changes one or two readings and its uptime per update.  Per
update it counts the MQTT 3.1.1 bytes of the device's connection: the request PUBLISH (QoS 1)
and its PUBACK, the ``/update/accepted`` PUBLISH the device receives and its PUBACK
(``edgekit.twin._wire``, also asserted by ``benchmarks/bench_twin.py``).  "delta" publishes
only the changed keys; "full" publishes the whole reported state every time.  TLS adds ~22
bytes per record on top of both.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgekit.twin._wire import gateway_bytes_per_update  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--fields", type=int, default=16)
    args = parser.parse_args()
    totals = {mode: gateway_bytes_per_update(mode, fields=args.fields, updates=args.updates)
              for mode in ("delta", "full")}
    print(f"{args.fields} reported fields, 1-2 readings + uptime change per update, "
          f"{args.updates} updates")
    print(f"delta report: {totals['delta']:.0f} bytes/update; full document: "
          f"{totals['full']:.0f} bytes/update; ratio {totals['full'] / totals['delta']:.1f}x")


if __name__ == "__main__":
    main()
