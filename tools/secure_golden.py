"""Write the envelope golden file (tests/secure/golden/envelope_v1.json).

Run once per format version: ``python tools/secure_golden.py``.  The file is then decoded
and re-sealed bit-exact by every later edgekit (tests/secure/test_envelope.py); never
regenerate it for an existing version.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from edgekit.data import load_series
from edgekit.secure.envelope import Sealer

OUT = Path(__file__).resolve().parents[1] / "tests" / "secure" / "golden" / "envelope_v1.json"


def cases() -> list[dict]:
    readings = np.asarray(load_series("payerne_temp_C")[:16], dtype="<f4").tobytes()
    key = bytes(range(32))
    out = []
    for algorithm in ("chacha20-poly1305", "aes-256-gcm"):
        for counter, plaintext, ad in [
            (0, b"", b""),
            (1, readings, b"device=dev-7"),
            (2**40 + 5, b"edgekit", b""),
        ]:
            env = Sealer(key, key_id=7, algorithm=algorithm, counter_start=counter).seal(
                plaintext, ad)
            out.append({"algorithm": algorithm, "key": key.hex(), "key_id": 7,
                        "counter": counter, "plaintext": plaintext.hex(),
                        "associated_data": ad.hex(), "envelope": env.hex()})
    s = Sealer(key, key_id=7)
    s.rekey()
    out.append({"algorithm": "chacha20-poly1305", "key": key.hex(), "key_id": 7,
                "rekeys": 1, "counter": 0, "plaintext": readings.hex(),
                "associated_data": "", "envelope": s.seal(readings).hex()})
    return out


if __name__ == "__main__":
    if OUT.exists() and "--force" not in sys.argv:
        sys.exit(f"{OUT} exists: golden files are written once per format version")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"format": "edgekit envelope", "version": 1,
                               "cases": cases()}, indent=1) + "\n")
    print(f"wrote {OUT}")
