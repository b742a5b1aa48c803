"""Shipped sensor series as a gateway would store them: timestamps and quality flags.

The shipped series (:mod:`edgekit.data`) hold values only.  For the benchmarks, the demo and
the tests, :func:`readings` gives each one the timestamps of its documented sampling interval
(from the start of its record, in ns since the epoch) and the quality flags a gateway's
plausibility checks would set:

* 1 ("implausible"): a negative irradiance (the pyranometer's night-time offset);
* 2 ("spike"): a step from the previous reading larger than 8 median absolute steps plus the
  series' resolution (the classic QC step test).

``jitter_ns`` adds the receive-time jitter of readings stamped by the gateway's own clock
instead of the logger's (uniform in 0..jitter_ns, quantised to 1 microsecond).
"""

from __future__ import annotations

import numpy as np

from edgekit.data import load_series

# first sample (s since the epoch) and sampling interval (ns) of each record
_TIMING: dict[str, tuple[int, int]] = {
    "ecg_mitdb_mV": (1_000_000_000, 1_000_000_000 // 360),   # 360 Hz, start undocumented
    "maunaloa_co2_ppm": (-370_742_400, 7 * 86_400 * 10**9),  # weekly from 1958-03-29
    "membrane_potential_f32": (1_000_000_000, 10**9 // 10_000),  # undocumented: 10 kHz
    "payerne_ghi_Wm2": (1_464_739_200, 60 * 10**9),         # 2016-06-01, 1 min
    "payerne_pressure_hPa": (1_464_739_200, 60 * 10**9),
    "payerne_temp_C": (1_464_739_200, 60 * 10**9),
    "river_waterflow_ls": (1_514_764_800, 3600 * 10**9),    # hourly
    "seattle_temp_F": (1_262_304_000, 3600 * 10**9),        # 2010, hourly
}

SERIES = tuple(sorted(_TIMING))


def readings(name: str, *, jitter_ns: int = 0, seed: int = 0
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(timestamps_ns int64, values float64, qualities uint8) of shipped series ``name``."""
    values = load_series(name)
    start_s, step = _TIMING[name]
    ts = start_s * 10**9 + np.arange(values.size, dtype=np.int64) * step
    if jitter_ns:
        rng = np.random.default_rng(seed)
        ts = ts + rng.integers(0, jitter_ns // 1000 + 1, values.size) * 1000
        ts = np.maximum.accumulate(ts)
    q = step_test(values)
    if name == "payerne_ghi_Wm2":
        q[values < 0] = 1
    return ts, values, q


def step_test(values: np.ndarray) -> np.ndarray:
    """uint8 quality flags of any series: 2 where the step from the previous reading exceeds
    8 median absolute steps plus the series' resolution, else 0."""
    x = np.asarray(values, np.float64)
    q = np.zeros(x.size, np.uint8)
    if not x.size:
        return q
    with np.errstate(invalid="ignore", over="ignore"):
        steps = np.abs(np.diff(x, prepend=x[0]))
    nonzero = steps[steps > 0]
    resolution = float(nonzero.min()) if nonzero.size else 0.0
    mad = float(np.median(steps))
    q[steps > 8 * mad + resolution] = 2
    return q
