"""Write the golden frames of each format version into tests/golden/v<N>/.

    python tools/compress_golden.py          # writes only the files that are missing

Each case is NAME.ekz (the encoded bytes, as that version's encoder wrote them) and NAME.npy
(the array it must decode to, bit for bit); a record also has NAME.ts.npy (its
timestamps).  Golden files are written once per format version and never rewritten: every
later edgekit must decode them (tests/compress/test_golden.py).  A format change bumps
FORMAT_VERSION and adds a new directory and a ``cases_v<N>`` function.

Version 3 cases are frames whose streams use format v3's lanes (stream kind 4), from real
series and a few generated edge cases.

Version 2 cases are frames that use a version-2 model (dictionary, predictor), made from
real series: the shipped ones, and (when the sensor corpus is at $EDGEKIT_SENSORS,
default ../shared/data/sensors beside the repository) corpus series the v2 models were built for.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgekit.compress import FORMAT_VERSION, codec, encode, encode_series  # noqa: E402
from edgekit.data import load_series  # noqa: E402


def cases_v1() -> dict[str, tuple[bytes, np.ndarray]]:
    rng = np.random.default_rng(20261127)
    out: dict[str, tuple[bytes, np.ndarray]] = {}

    def add(name: str, arr: np.ndarray, **kw) -> None:
        out[name] = (encode(arr, **kw), arr)

    temp = load_series("payerne_temp_C")
    add("decimal_f64_temp", temp[:6000])
    add("decimal_f32_temp", temp[:3000].astype(np.float32))
    add("affine_f32_in_f64_membrane", load_series("membrane_potential_f32")[:4000])
    add("runs_ghi", load_series("payerne_ghi_Wm2")[1000:5000])
    add("pressure_integer_valued", load_series("payerne_pressure_hPa")[:8000])
    add("common_step_ecg", load_series("ecg_mitdb_mV")[:3000])
    add("bits_random_f64", rng.random(500))
    add("special_f64", np.array([np.nan, -np.nan, -0.0, 0.0, np.inf, -np.inf, 5e-324,
                                 1.7976931348623157e308, 21.4, 1e-310]))
    add("nan_payload_f32", np.array([0x7FC00001, 0xFF800123, 0x3F800000],
                                    dtype=np.uint32).view(np.float32))
    add("f16", rng.normal(size=64).astype(np.float16))
    for dt in ("int8", "uint16", "int32", "uint64", "int64"):
        info = np.iinfo(dt)
        add(f"int_{dt}", np.concatenate([
            np.array([info.min, info.max], dtype=dt),
            rng.integers(info.min, info.max, size=100, dtype=dt, endpoint=True),
            np.cumsum(rng.integers(-2, 3, size=300)).astype(dt)]))
    add("bool", rng.random(77) > 0.3)
    add("datetime64_ns", (np.datetime64("2026-11-27T00:00:00", "ns")
                          + np.arange(500) * np.timedelta64(60, "s")))
    add("nd_fortran", np.asfortranarray(rng.integers(0, 999, size=(6, 5, 4)) / 10))
    add("big_endian_f4", (np.arange(50) / 4).astype(">f4"))
    add("empty_2d", np.zeros((0, 3), dtype=np.float32))
    add("scalar", np.array(3.25))
    add("lossy_0.05", temp[:4000] * 1.1, tolerance=0.05)
    add("two_blocks_i8", np.cumsum(rng.integers(-5, 6, size=70000)).astype(np.int8))
    ts = np.int64(1_700_000_000 * 10**9) + np.arange(1000, dtype=np.int64) * 10**9
    out["record_ts_values"] = (encode_series(ts, temp[:1000]), temp[:1000])
    out["record_ts_values.ts"] = (b"", ts)
    return out


def _corpus(name: str) -> np.ndarray | None:
    corpus = os.environ.get("EDGEKIT_SENSORS", str(ROOT.parent / "shared" / "data" / "sensors"))
    path = Path(corpus) / f"{name}.npy"
    return np.load(path, allow_pickle=False) if path.exists() else None


def cases_v2() -> dict[str, tuple[bytes, np.ndarray]]:
    out: dict[str, tuple[bytes, np.ndarray]] = {}

    def add(name: str, arr: np.ndarray | None, **kw) -> None:
        if arr is not None:
            out[name] = (encode(np.ascontiguousarray(arr), **kw), np.ascontiguousarray(arr))

    add("dict_f64_membrane", load_series("membrane_potential_f32")[:6000])
    add("pred_decimal_seattle", load_series("seattle_temp_F"))
    chans = [load_series(n)[:3000] for n in
             ("payerne_temp_C", "payerne_pressure_hPa", "payerne_ghi_Wm2")]
    add("lookback_interleaved_payerne", np.stack(chans, 1).ravel())
    add("lookback_interleaved_i32", np.round(np.stack(chans, 1).ravel() * 10).astype(np.int32))
    kitchen = _corpus("house_kitchen_temp_C")
    add("dict_f64_kitchen", None if kitchen is None else kitchen[:8000])
    short = _corpus("goes15_xrs_short_0p5_4ang_Wm2")
    add("dict_f32_goes_short", None if short is None else short[:10000])
    add("dict_pred_f32_goes_long", _corpus("goes15_xrs_long_1_8ang_Wm2"))
    emg = _corpus("pysiology_emg_mV")
    add("dict_pred_emg", None if emg is None else emg[70000:90000])
    add("lpc_i2_apollo15", _corpus("apollo15_pse_spz_counts"))
    add("lpc_i4_anmo", None if (a := _corpus("seismic_iu_anmo_lhz_counts")) is None
        else a[:20000])
    add("lpc_i2_two_blocks_ppg", _corpus("heartpy_ppg_adc"))
    add("lpc_decimal_f32_tohoku", _corpus("seismic_ii_tly_bhz_tohoku_counts"))
    # the dictionary as an exact binning: many distinct values, off-grid or float noise
    iers = _corpus("iers_length_of_day_excess_s")
    add("dict_binning_f64_iers_lod", None if iers is None else iers[:12000])
    pv = _corpus("pv_system50_ac_power_W")
    add("dict_binning_f32_pv_power", None if pv is None else pv[20000:40000])
    # the split dictionary: float32 noise binned by its high bits
    pv4 = _corpus("pv_system4_module_temp_C")
    add("split_f32_pv_module_temp", None if pv4 is None else pv4[:20000])
    pv15 = _corpus("pv_system15_poa_irradiance_Wm2")
    add("split_f32_pv_irradiance", None if pv15 is None else pv15[70000:90000])
    add("lpc_i4_knet_big_endian", None if (a := _corpus("knet_akt013_accel_ew_counts")) is None
        else a.astype(">i4"))
    return out


def cases_v3() -> dict[str, tuple[bytes, np.ndarray]]:
    """Format v3's stream lanes (kind 4) and predictor lanes (``_cases_v3_pred``).
    Stream lanes: real series whose streams of 4,096 codes or more the encoder writes in 16
    lanes, one case per place a stream sits (a plain main stream at delta orders 0..2, a
    value-table grid, a residual stream, a predictor's residuals, a dictionary's index and
    low streams, a zero-run body's sub-streams), plus the decoder's edge cases: wide tokens
    (its scalar path), a stream whose length is not a multiple of 16, two blocks.  Written
    with the lanes' size threshold off (``_T_LANES_SHARE`` = 1: every stream of 4,096 codes
    or more in lanes), so that each case has the lanes it is named for."""
    rng = np.random.default_rng(20261207)
    out: dict[str, tuple[bytes, np.ndarray]] = {}
    share = codec._T_LANES_SHARE
    codec._T_LANES_SHARE = 1.0
    try:
        _cases_v3(out, rng)
    finally:
        codec._T_LANES_SHARE = share
    _cases_v3_pred(out)
    return out


def _cases_v3(out: dict[str, tuple[bytes, np.ndarray]], rng: np.random.Generator) -> None:

    def add(name: str, arr: np.ndarray | None, **kw) -> None:
        if arr is not None:
            out[name] = (encode(np.ascontiguousarray(arr), **kw), np.ascontiguousarray(arr))

    add("kind4_decimal_table_payerne_temp", load_series("payerne_temp_C"))
    add("kind4_f32_payerne_ghi", load_series("payerne_ghi_Wm2").astype(np.float32))
    add("kind4_int_i16_speech", _corpus("speech_hts1a_pcm_int16"))
    add("kind4_beijing_pm25", _corpus("beijing_pm25_ugm3"))
    add("kind4_resid_beijing_pressure", _corpus("beijing_pressure_hPa"))
    add("kind4_bits_pv_irradiance", None if (a := _corpus("pv_system15_poa_irradiance_Wm2"))
        is None else a[:40000])
    add("kind4_pred_anmo", None if (a := _corpus("seismic_iu_anmo_lhz_counts")) is None
        else a[:20000])
    add("kind4_dict_kitchen", _corpus("house_kitchen_temp_C"))
    add("kind4_split_pv_module_temp", None if (a := _corpus("pv_system4_module_temp_C"))
        is None else a[:20000])
    add("kind4_wide_tokens_i64", np.cumsum(rng.integers(-(2 ** 58), 2 ** 58, size=5000)))
    add("kind4_odd_length_i16", np.cumsum(rng.integers(-40, 41, size=4099)).astype(np.int16))
    sparse = np.zeros(65536, dtype=np.int32)  # zero-run form, both sub-streams in lanes
    hits = rng.random(sparse.size) < 0.1
    sparse[hits] = rng.integers(-5000, 5000, int(hits.sum()))
    add("kind4_runs_sparse_i32", sparse)
    add("kind4_order2_two_blocks_i32",
        np.cumsum(np.cumsum(rng.integers(-3, 4, size=70001))).astype(np.int32))


def _cases_v3_pred(out: dict[str, tuple[bytes, np.ndarray]]) -> None:
    """Format v3, predictor lanes: real series the default encoder cuts into eight lanes,
    and (with the lane thresholds opened, or another lane count) short frames, a lookback
    and five lanes, which the decoder must read as well."""
    from edgekit.compress import _v2
    from edgekit.compress import codec as C

    def add(name: str, arr: np.ndarray | None, lanes: int = 8, forced: bool = False) -> None:
        if arr is None:
            return
        arr = np.ascontiguousarray(arr)
        keep = (_v2._LANES, C._T_LANE_MIN_LEN, C._T_LANE_COST)
        try:
            _v2._LANES = lanes
            if forced:
                C._T_LANE_MIN_LEN, C._T_LANE_COST = 32, 1.0
            out[name] = (encode(arr), arr)
        finally:
            _v2._LANES, C._T_LANE_MIN_LEN, C._T_LANE_COST = keep

    add("lanes_i4_knet", _corpus("knet_akt013_accel_ew_counts"))
    add("lanes_decimal_f64_iers_lod", _corpus("iers_length_of_day_excess_s"))
    add("lanes_dict_pred_f32_goes_long", _corpus("goes15_xrs_long_1_8ang_Wm2"))
    add("lanes_i2_two_blocks_ppg", _corpus("heartpy_ppg_adc"))
    add("lanes_decimal_f32_tohoku", _corpus("seismic_ii_tly_bhz_tohoku_counts"))
    # both halves of v3 in one block: predictor lanes whose residual stream is of kind 4
    # (written after the merge, with the stream lanes' share at its default of 1 %)
    add("lanes_kind4_resid_tohoku", _corpus("seismic_ii_tly_bhz_tohoku_counts"))
    # short frames (the byte-by-byte damage test reads frames under 3,000 bytes)
    add("lanes_forced_i2_apollo15", None if (a := _corpus("apollo15_pse_spz_counts")) is None
        else a[:2048], forced=True)
    add("lanes_forced_decimal_yosemite", None if (a := _corpus("yosemite_air_temp_C")) is None
        else a[:2000], forced=True)
    add("lanes_forced_i4_anmo_big_endian", None if (a := _corpus("seismic_iu_anmo_lhz_counts"))
        is None else a[:1500].astype(">i4"), forced=True)
    add("lanes5_forced_lookback_seattle", load_series("seattle_temp_F"), lanes=5, forced=True)
    add("lanes5_forced_i2_apollo15", None if (a := _corpus("apollo15_pse_spz_counts")) is None
        else a[:1500], lanes=5, forced=True)


CASES = {1: cases_v1, 2: cases_v2, 3: cases_v3}


def main() -> int:
    assert max(CASES) == FORMAT_VERSION, "add cases_v<N> for the new format version"
    for version, make in CASES.items():
        d = ROOT / "tests" / "golden" / f"v{version}"
        d.mkdir(parents=True, exist_ok=True)
        written = 0
        for name, (blob, arr) in make().items():
            if (d / f"{name}.npy").exists():
                continue
            if blob and blob[4] != version:
                print(f"skipped {name}: this encoder writes it as version {blob[4]}")
                continue
            if blob:  # the ".ts" entries are the timestamps of a record: an .npy only
                (d / f"{name}.ekz").write_bytes(blob)
            np.save(d / f"{name}.npy", arr, allow_pickle=False)
            written += 1
        print(f"{written} golden cases written to {d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
