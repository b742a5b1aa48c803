"""A short run of tools/compress_fuzz.py (the long run is a million inputs, by hand): damaged
frames, with and without a recomputed checksum, raise only CorruptDataError."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "tools" / "compress_fuzz.py"


def _tool():
    spec = importlib.util.spec_from_file_location("compress_fuzz", TOOL)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_fuzz_short_run(tmp_path):
    fuzz = _tool()
    count = int(os.environ.get("EDGEKIT_FUZZ_COUNT", "4000"))
    total = fuzz.run(count, seed=7, workers=1, out=str(tmp_path))
    assert total["count"] == count
    assert total["failures"] == 0, total["examples"]
    assert total["decoded"] > 0  # some damage lands in values and still decodes
    assert total["max_ratio"] < 2 * 65536 * 8  # no small blob decodes to a huge array


def test_v2_block_parameters_damaged_byte_by_byte():
    """Every byte of the first block's head, dictionary table and predictor descriptor of
    each v2 golden frame, set to boundary values with the checksum refitted: decoded or
    CorruptDataError, nothing else."""
    import struct
    import zlib

    from edgekit.compress import decode
    from edgekit.errors import CorruptDataError

    # the small frames: dictionary, LPC, lookback and a decimal predictor block
    golden = [p for p in sorted((TOOL.parents[1] / "tests" / "golden" / "v2").glob("*.ekz"))
              if p.stat().st_size < 3000]
    assert len(golden) >= 4
    outcomes = {"decoded": 0, "corrupt": 0}
    for path in golden:
        blob = path.read_bytes()
        for pos in range(12, min(len(blob) - 4, 12 + 96)):
            for v in (0, 1, 2, 0x20, 0x7F, 0x80, 0xFF, blob[pos] ^ 1):
                b = bytearray(blob)
                b[pos] = v
                b[-4:] = struct.pack("<I", zlib.crc32(bytes(b[:-4])))
                try:
                    decode(bytes(b))
                    outcomes["decoded"] += 1
                except CorruptDataError:
                    outcomes["corrupt"] += 1
    assert outcomes["corrupt"] > 0 and outcomes["decoded"] > 0
