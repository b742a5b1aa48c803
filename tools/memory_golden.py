"""Write the golden segment files of tests/memory/golden (once per format version).

Each file is a segment of the first 3000 readings of payerne_temp_C (with timestamps and
quality flags) as one codec wrote it: ``segment_v1_codecC.eks`` with float32 values (the
store's default before values kept their dtype), ``segment_v1_codecC_float64.eks`` with the
float64 values as given (the default since).  The test decodes them bit-exact for
ever: a change that cannot read them breaks every spill directory in the field.

    python tools/memory_golden.py      # only to add a new format version or codec
"""

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's edgekit, not an installed one

from edgekit.memory import _seal_codec, _segment  # noqa: E402
from edgekit.memory._series import readings  # noqa: E402

OUT = ROOT / "tests" / "memory" / "golden"


def main() -> None:
    t, v, q = (a[:3000] for a in readings("payerne_temp_C"))
    for codec in _seal_codec.CODECS:
        for suffix, values in (("", v.astype(np.float32)), ("_float64", v)):
            path = OUT / f"segment_v{_segment.VERSION}_codec{codec}{suffix}.eks"
            if path.exists():
                print(f"{path.name} exists: golden files are never rewritten")
                continue
            path.write_bytes(_segment.pack(7, t, values, q, codec))
            print(f"wrote {path.name}")


if __name__ == "__main__":
    main()
