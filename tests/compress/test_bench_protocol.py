"""The leave-one-source-out protocol of tools/compress_bench.py: a fold's thresholds are chosen
without its source, and each series is measured with its own fold's values.

Synthetic setups with a fake tunable show the protocol itself (they fail if the held-out
source leaks into its fold); the last tests run it on the codec's real ``_TUNING_GRID`` and
the test corpus.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from edgekit.compress import codec
from edgekit.data._corpus import SHIPPED_DIR, load_corpus

ROOT = Path(__file__).resolve().parents[2]


def _tool():
    spec = importlib.util.spec_from_file_location("_compress_bench",
                                                  ROOT / "tools" / "compress_bench.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("_compress_bench", mod)
    spec.loader.exec_module(mod)
    return mod


bench = _tool()
GRID = {"_T_FAKE": (1, 2, 3)}
START = {"_T_FAKE": 1}


def _peaked(best: int, slope: float = 0.3):
    """A series whose ratio peaks (at 2.0) at _T_FAKE == best, falling by ``slope`` a step."""
    return lambda a: 2.0 - slope * abs(a["_T_FAKE"] - best)


def _setup(a_best: int):
    # Source A (one series) prefers a_best, sharply; B and C (two series each) prefer 2 and
    # 3, B more strongly, so that without A the choice is 2, and with A it is a_best.
    series = {"a1": _peaked(a_best, 0.9), "b1": _peaked(2), "b2": _peaked(2),
              "c1": _peaked(3, 0.2), "c2": _peaked(3, 0.2)}
    groups = {"A": ["a1"], "B": ["b1", "b2"], "C": ["c1", "c2"]}
    calls: list[tuple[str, int]] = []

    def ratio(name, values):
        calls.append((name, values["_T_FAKE"]))
        return series[name](values)

    return groups, ratio, calls


def test_the_held_out_source_does_not_choose_its_own_values():
    results = {}
    for a_best in (1, 3):
        groups, ratio, calls = _setup(a_best)
        results[a_best] = bench.leave_one_source_out(groups, GRID, START, ratio, passes=3)
    # Fold A is chosen on B and C only: the same whatever A prefers.
    assert results[1].folds["A"] == results[3].folds["A"] == {"_T_FAKE": 2}
    # ... while tuning on everything (what a leaky protocol would do) follows A's strong pull.
    for a_best in (1, 3):
        groups, ratio, _ = _setup(a_best)
        names = [n for ns in groups.values() for n in ns]
        chosen, _ = bench.coordinate_descent(
            GRID, START, lambda v, r=ratio, ns=names: bench.geomean(r(n, v) for n in ns))
        assert chosen == {"_T_FAKE": a_best}
    # A's series is measured with fold A's value, not the one it prefers.
    assert results[3].held_out["a1"] == pytest.approx(2.0 - 0.9)
    # B's fold is trained on A and C.
    assert results[3].folds["B"] == {"_T_FAKE": 3}
    assert results[1].folds["B"] != results[3].folds["B"]


def test_a_fold_never_evaluates_its_held_out_series_while_choosing():
    groups, ratio, calls = _setup(3)
    res = bench.leave_one_source_out({"A": groups["A"], "B": groups["B"]}, GRID, START,
                                     ratio, passes=3)
    # Fold A (first) must touch only B's series until it measures a1 once with its choice.
    first_a = calls.index(next(c for c in calls if c[0] == "a1"))
    assert all(n.startswith("b") for n, _ in calls[:first_a])
    assert calls[first_a] == ("a1", res.folds["A"]["_T_FAKE"])
    assert res.geomean == pytest.approx(bench.geomean(res.held_out.values()))
    assert set(res.held_out) == {"a1", "b1", "b2"}


def test_coordinate_descent_keeps_the_default_on_ties_and_finds_separable_optima():
    flat = bench.coordinate_descent(GRID, START, lambda v: 1.0)
    assert flat == ({"_T_FAKE": 1}, 1.0)
    grid = {"_T_X": (0, 1, 2, 3), "_T_Y": (10, 20, 30)}
    chosen, best = bench.coordinate_descent(
        grid, {"_T_X": 0, "_T_Y": 10},
        lambda v: 10.0 - (v["_T_X"] - 2) ** 2 - ((v["_T_Y"] - 30) / 10) ** 2)
    assert chosen == {"_T_X": 2, "_T_Y": 30} and best == 10.0
    with pytest.raises(ValueError):
        bench.leave_one_source_out({"A": ["a1"]}, GRID, START, lambda n, v: 1.0)


def test_thresholds_are_set_for_the_block_and_restored():
    grid = bench.tuning_grid()
    assert grid, "codec._TUNING_GRID is empty"
    name, values = next(iter(grid.items()))
    before = getattr(codec, name)
    other = next(v for v in values if v != before)
    with pytest.raises(RuntimeError), bench.thresholds({name: other}):
        assert getattr(codec, name) == other
        raise RuntimeError
    assert getattr(codec, name) == before


def test_the_grid_reaches_the_encoder_on_real_series():
    """Some value of some tunable changes some shipped series' size: the protocol's overrides
    reach the encoder (they would not if it stopped reading the module constants)."""
    pcodec = pytest.importorskip("pcodec")
    corpus = load_corpus(SHIPPED_DIR)
    pc = {s.name: len(pcodec.standalone.simple_compress(s.values, pcodec.ChunkConfig()))
          for s in corpus}
    cache = bench.RatioCache(corpus, pc)
    grid = bench.tuning_grid()
    defaults = bench.current_values(grid)
    moved = [(n, k, v) for s in corpus for k, vals in grid.items() for v in vals
             if v != defaults[k] and cache(n := s.name, {**defaults, k: v})
             != cache(n, defaults)]
    assert moved
    assert bench.current_values(grid) == defaults


def test_the_tool_prints_both_figures_and_the_verdict(capsys, tmp_path):
    pytest.importorskip("pcodec")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    src = ROOT / "tests" / "data" / "corpus"
    for name in ("maunaloa_co2_ppm", "river_waterflow_ls", "cycling_gps_lat_semicircles",
                 "pm10_demv017_daily_ugm3"):
        for ext in ("npy", "json"):
            (corpus / f"{name}.{ext}").write_bytes((src / f"{name}.{ext}").read_bytes())
    assert bench.main(["--loso", "--corpus", str(corpus)]) == 0
    out = capsys.readouterr().out
    assert "leave-one-source-out" in out and "all series (defaults)" in out
    assert "Done-when verdict" in out and "held-out geometric mean" in out
    held = [float(line.split("|")[6].strip(" *")) for line in out.splitlines()
            if line.startswith("| river_waterflow_ls |")]
    x = np.load(corpus / "river_waterflow_ls.npy")
    assert held and held[0] > 0 and x.size == 1268


def test_the_default_corpus_falls_back_to_the_shipped_series(monkeypatch, tmp_path):
    monkeypatch.setattr(bench, "DEFAULT_CORPUS", tmp_path / "absent")
    assert bench.default_corpus() == SHIPPED_DIR
    monkeypatch.setattr(bench, "DEFAULT_CORPUS", tmp_path)
    assert bench.default_corpus() == tmp_path
