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
