"""Write tests/data/corpus: the cut-down copy of the real-series corpus the test suite uses.

    python tools/compress_test_corpus.py [--corpus ../shared/data/sensors]

The full corpus (41 series, 17 sources) lives beside the repository and is not shipped; a
fresh clone lacks it.  This copies one or two series of every source family (the ones in
``PICK``: different dtypes, and the codec's weak spots), each cut to its first
:data:`MAX_VALUES` values, in its own dtype, with its json (``n``, ``min``, ``max``,
``n_unique`` and ``decimals_detected`` recomputed on the cut, ``cut_from`` the full length),
and writes a README citing every series' provenance and licence.  Deterministic: running it
again rewrites the same bytes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgekit.data._corpus import by_source, load_corpus  # noqa: E402

OUT = ROOT / "tests" / "data" / "corpus"
MAX_VALUES = 50_000
MAX_BYTES = 6_000_000
NO_LICENCE = "not recorded in the corpus json (see edgekit/data/sensors/PROVENANCE.md)"
PICK = (
    "beijing_pm25_ugm3", "bitalino_ecg_adc", "buoy_b01_sea_temp_C",
    "cycling_gps_lat_semicircles", "ecg_mitdb_mV", "goes15_xrs_long_1_8ang_Wm2",
    "goes15_xrs_short_0p5_4ang_Wm2", "heartpy_ppg_adc", "house_kitchen_temp_C",
    "iers_length_of_day_excess_s", "iers_polar_motion_x_arcsec", "maunaloa_co2_ppm",
    "membrane_potential_f32", "payerne_ghi_Wm2", "payerne_temp_C", "pm10_demv017_daily_ugm3",
    "pv_system4_module_temp_C", "pv_system50_ac_power_W", "pysiology_emg_mV",
    "river_waterflow_ls", "seattle_temp_F", "seismic_ii_tly_bhz_tohoku_counts",
    "seismic_iu_anmo_lhz_counts", "speech_hts1a_pcm_int16",
)


def decimals(x: np.ndarray) -> int | None:
    """The smallest d <= 12 such that printing every value with d decimals and reading it
    back is exact (the corpus json's ``decimals_detected``); 0 for integers."""
    if x.dtype.kind in "iu":
        return 0
    for d in range(13):
        back = np.array([float(f"{v:.{d}f}") for v in x.tolist()], dtype=x.dtype)
        if back.tobytes() == x.tobytes():
            return d
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "data" / "sensors")
    args = ap.parse_args(argv)
    full = load_corpus(args.corpus)
    picked = [s for s in full if s.name in PICK]
    missing = set(by_source(full)) - set(by_source(picked))
    if missing:
        raise SystemExit(f"PICK covers no series of: {', '.join(sorted(missing))}")
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    rows = []
    for s in picked:
        x = np.ascontiguousarray(s.values[:MAX_VALUES])
        info = dict(s.info)
        info.update(n=int(x.size), cut_from=int(s.values.size), min=x.min().item(),
                    max=x.max().item(), n_unique=int(np.unique(x).size),
                    decimals_detected=decimals(x))
        np.save(OUT / f"{s.name}.npy", x, allow_pickle=False)
        (OUT / f"{s.name}.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
        cut = f"first {x.size} of {s.values.size}" if x.size < s.values.size else str(x.size)
        rows.append(f"| `{s.name}` | {s.source} | {x.dtype} | {cut} | {info.get('quantity')} "
                    f"[{info.get('units')}] | {info.get('source')}: `{info.get('path')}` | "
                    f"{info.get('licence') or NO_LICENCE} |")
    readme = [
        "# Test corpus: every source family of the real-series corpus, cut down",
        "",
        "Written by `python tools/compress_test_corpus.py` from `../shared/data/sensors` (41 real",
        "series from 17 sources, not shipped: see its README).  One or two series per source",
        f"family, each cut to its first {MAX_VALUES:,} values, in the dtype it was stored in;",
        "each `NAME.json` is the corpus json with `n`, `min`, `max`, `n_unique` and",
        "`decimals_detected` recomputed on the cut and `cut_from` the full length.  Used by",
        "`tests/compress/test_corpus.py` and `python tools/compress_bench.py --corpus",
        "tests/data/corpus`.  The values are measurements extracted from data files that ship",
        "inside the packages named below (PyPI wheels and Debian packages); each keeps the",
        "licence of its package or dataset, as given.",
        "",
        "| file | source family | dtype | values | quantity | from (package: path) | licence |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]
    (OUT / "README.md").write_text("\n".join(readme), encoding="utf-8")
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"{len(picked)} series from {len(by_source(picked))} sources, {total:,} bytes in {OUT}")
    if total > MAX_BYTES:
        raise SystemExit(f"over the {MAX_BYTES:,}-byte budget")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
