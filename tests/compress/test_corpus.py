"""edgekit.compress on the test corpus (tests/data/corpus: every source family of the real-series
corpus, cut down; see its README): bit-exact round trips in each series' own dtype, and the
lossless ratio against pcodec per series and in geometric mean.

The floors are what the codec achieves now; raise them as it improves.  The issue's (#16)
targets on the full 41-series corpus are ``TARGET_SERIES`` per series and a geometric mean of
1.15 (all series) / 1.10 (leave-one-source-out, ``python tools/compress_bench.py --loso``):
every series not in ``WEAK_FLOORS`` must already meet ``TARGET_SERIES``; a series leaves
``WEAK_FLOORS`` once it meets it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from edgekit.compress import decode, encode
from edgekit.data._corpus import SHIPPED_DIR, by_source, list_corpus, load_corpus
from edgekit.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "corpus"
FULL = ROOT.parent / "shared" / "data" / "sensors"  # beside the clone in CI; absent in a fresh one

TARGET_SERIES = 0.95  # edgekit / pcodec ratio, every series (issue #16)
# Below the target now: floor = 0.98 x the ratio measured at this commit (edgekit / pcodec).
WEAK_FLOORS = {
    "goes15_xrs_long_1_8ang_Wm2": 0.52,  # measured 0.539
    "goes15_xrs_short_0p5_4ang_Wm2": 0.35,  # 0.363
    "heartpy_ppg_adc": 0.89,  # 0.912
    "house_kitchen_temp_C": 0.27,  # 0.284
    "iers_length_of_day_excess_s": 0.32,  # 0.336
    "pv_system4_module_temp_C": 0.77,  # 0.786
    "pv_system50_ac_power_W": 0.62,  # 0.642
    "pysiology_emg_mV": 0.10,  # 0.112
    "seismic_ii_tly_bhz_tohoku_counts": 0.90,  # 0.919
}
GEOMEAN_FLOOR = 0.78  # measured 0.800 on the 24 series; target 1.15


@pytest.fixture(scope="module")
def corpus():
    return load_corpus(CORPUS)


def _geomean(values) -> float:
    return float(np.exp(np.mean(np.log(np.asarray(list(values), dtype=np.float64)))))


def test_the_test_corpus_covers_every_source_family_within_budget(corpus):
    groups = by_source(corpus)
    assert len(groups) >= 17
    assert {str(s.values.dtype) for s in corpus} >= {"int16", "int32", "float32", "float64"}
    for s in corpus:
        assert s.values.size == s.info["n"] <= 50_000, s.name
        assert s.info.get("licence") or s.source in {"sktime", "statsmodels", "matplotlib", "pvlib",
                                                 "river", "vega-datasets"}, s.name
    assert sum(p.stat().st_size for p in CORPUS.iterdir()) <= 6_000_000
    readme = (CORPUS / "README.md").read_text(encoding="utf-8")
    assert all(f"`{s.name}`" in readme for s in corpus)
    if FULL.is_dir():  # the families the full corpus has, all represented here
        full = {json.loads(p.read_text(encoding="utf-8"))["source"].split()[0]
                for p in FULL.glob("*.json")}
        assert full <= set(groups)


@pytest.mark.parametrize("name", list_corpus(CORPUS))
def test_every_corpus_series_round_trips_bit_exactly_in_its_dtype(corpus, name):
    x = next(s.values for s in corpus if s.name == name)
    back = decode(encode(x))
    assert back.dtype == x.dtype and back.shape == x.shape
    assert back.tobytes() == x.tobytes()


@pytest.mark.skipif(not FULL.is_dir(), reason="the full corpus (../shared) is not beside the clone")
def test_every_series_of_the_full_corpus_round_trips_bit_exactly():
    full = load_corpus(FULL)
    assert len(full) >= 41
    bad = []
    for s in full:
        back = decode(encode(s.values))
        if back.dtype != s.values.dtype or back.tobytes() != s.values.tobytes():
            bad.append(s.name)
    assert not bad


def test_ratio_against_pcodec_per_series_and_in_geometric_mean(corpus):
    pcodec = pytest.importorskip("pcodec")
    rel = {}
    for s in corpus:
        ours = len(encode(s.values))
        theirs = len(pcodec.standalone.simple_compress(s.values, pcodec.ChunkConfig()))
        rel[s.name] = theirs / ours
    low = {n: round(r, 3) for n, r in rel.items() if r < WEAK_FLOORS.get(n, TARGET_SERIES)}
    assert not low, f"edgekit / pcodec ratio below its floor: {low}"
    assert set(WEAK_FLOORS) <= set(rel)
    gm = _geomean(rel.values())
    assert gm >= GEOMEAN_FLOOR, f"geometric mean edgekit / pcodec {gm:.3f} < {GEOMEAN_FLOOR}"
    assert not math.isnan(gm)


def test_loader_groups_by_package_and_refuses_bad_input(tmp_path):
    shipped = load_corpus(SHIPPED_DIR)
    assert len(shipped) >= 8 and "pvlib" in by_source(shipped)
    assert len(by_source(shipped)["pvlib"]) == 3
    with pytest.raises(InputError):
        load_corpus(tmp_path / "absent")
    with pytest.raises(InputError):
        load_corpus(tmp_path)  # empty
    np.save(tmp_path / "a.npy", np.arange(3, dtype=np.int16))
    (tmp_path / "a.json").write_text("{}", encoding="utf-8")
    with pytest.raises(InputError, match="source"):
        load_corpus(tmp_path)
    (tmp_path / "a.json").write_text('{"source": "pkg 1.0 (pkg.whl)"}', encoding="utf-8")
    (only,) = load_corpus(tmp_path)
    assert only.source == "pkg" and only.values.dtype == np.int16
    with pytest.raises(InputError):
        load_corpus(tmp_path, ["b"])
    np.save(tmp_path / "a.npy", np.zeros((2, 2)))
    with pytest.raises(InputError):
        load_corpus(tmp_path)
