"""The codec benchmark on the real-series corpus: edgekit.compress beside its peers, every
figure twice (all series, and leave-one-source-out), and the issue's done-when verdict.

    python tools/compress_bench.py                   # full run: all peers, LOSO, verdict
    python tools/compress_bench.py --peers pcodec    # edgekit vs pcodec only (faster)
    python tools/compress_bench.py --loso            # ratios and the LOSO protocol only
    python tools/compress_bench.py --write           # and write docs/compress/benchmarks.md
    python tools/compress_bench.py --corpus tests/data/corpus   # the test suite's subset

Corpus: every ``NAME.npy`` + ``NAME.json`` of ``--corpus DIR`` (default
``../shared/data/sensors`` beside the repository when present, else the 8 series shipped in
``edgekit/data/sensors``).  Each series is coded in its own dtype (int16, int32, float32,
float64) by every codec, and every ratio is against its own bytes.  Series are grouped by
source family (the first word of the json ``source``: the package the data came from).

Codecs (all lossless): edgekit.compress (``encode``/``decode``), pcodec
(``pcodec.standalone.simple_compress(x, pcodec.ChunkConfig())``) and, unless ``--peers
pcodec``, the article's method (np.diff + zlib-6 on float64, first value stored, float cumsum
back), zlib-6, zstd-3 and zstd-19 on the raw bytes, blosc2 with byte shuffle or bitshuffle +
zstd-5.  Every round trip is checked bit for bit.  Speeds are MB/s of input, medians of
interleaved rounds of the timing thread's CPU time.

Leave-one-source-out (LOSO): the encoder's thresholds are the module constants ``_T_*`` of
``edgekit.compress.codec``, with candidate values in ``codec._TUNING_GRID`` (read at run
time).  For each source S, the values are chosen on the other sources only (objective: the
geometric mean over the training series of pcodec's size / edgekit's size; coordinate
descent over the grid from the defaults, up to ``--passes`` passes, a change only when it
strictly improves the objective), then edgekit with those values is measured on S's series.
The LOSO figure is the geometric mean over all series, each measured with its own fold's
values; it is the figure to quote.  Needs the [bench] extra (pcodec; blosc2 and zstandard
for the other peers).
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import sys
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgekit import _backend  # noqa: E402
from edgekit.compress import codec as _codec  # noqa: E402
from edgekit.compress import decode, encode  # noqa: E402
from edgekit.compress.article import article_compress, article_decompress  # noqa: E402
from edgekit.data._corpus import SHIPPED_DIR, CorpusSeries, by_source, load_corpus  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "data" / "sensors"
DOC = ROOT / "docs" / "compress" / "benchmarks.md"

# The done-when targets (#16), all against pcodec in the same run.
MIN_SERIES_RATIO = 0.95  # no series' edgekit/pcodec ratio below this
MIN_GEOMEAN_ALL = 1.15  # geometric mean of edgekit/pcodec, all series, default thresholds
MIN_GEOMEAN_LOSO = 1.10  # the same, each series measured with its fold's thresholds
MIN_DECODE_SPEED = 1.0  # edgekit decode speed / pcodec's, on every series of >= SPEED_N values
MIN_ENCODE_SPEED = 1.5  # edgekit encode speed / pcodec's, same series
SPEED_N = 5000

Codec = tuple[Callable[[np.ndarray], bytes], Callable[[bytes, np.ndarray], np.ndarray], bool]
Assignment = dict[str, object]


def _pcodec_pair() -> Codec:
    import pcodec

    return (lambda x: pcodec.standalone.simple_compress(x, pcodec.ChunkConfig()),
            lambda b, like: pcodec.standalone.simple_decompress(b), True)


def codecs(peers: str = "all") -> dict[str, Codec]:
    """edgekit, pcodec and (``peers="all"``) the other peers: name -> (enc, dec, lossless)."""
    out: dict[str, Codec] = {"edgekit": (lambda x: encode(x), lambda b, like: decode(b), True)}
    if peers == "all":
        import blosc2
        import zstandard

        blosc2.set_nthreads(1)  # one thread, like every other codec here
        z3c, z19c = zstandard.ZstdCompressor(level=3), zstandard.ZstdCompressor(level=19)
        zd = zstandard.ZstdDecompressor()

        def raw_back(b: bytes, like: np.ndarray) -> np.ndarray:
            return np.frombuffer(b, dtype=like.dtype)

        def blosc(filt):
            return (lambda x: blosc2.compress2(x, codec=blosc2.Codec.ZSTD, clevel=5,
                                               filters=[filt], typesize=x.dtype.itemsize),
                    lambda b, like: np.frombuffer(blosc2.decompress2(b), dtype=like.dtype), True)

        out.update({
            "article (diff+zlib-6)": (lambda x: article_compress(x, 6),
                                      lambda b, like: article_decompress(b), False),
            "zlib-6": (lambda x: zlib.compress(x.tobytes(), 6),
                       lambda b, like: raw_back(zlib.decompress(b), like), True),
            "zstd-3": (lambda x: z3c.compress(x.tobytes()),
                       lambda b, like: raw_back(zd.decompress(b), like), True),
            "zstd-19": (lambda x: z19c.compress(x.tobytes()),
                        lambda b, like: raw_back(zd.decompress(b), like), True),
            "blosc2 shuffle+zstd": blosc(blosc2.Filter.SHUFFLE),
            "blosc2 bitshuffle+zstd": blosc(blosc2.Filter.BITSHUFFLE),
        })
    elif peers != "pcodec":
        raise SystemExit(f"--peers must be 'all' or 'pcodec', got {peers!r}")
    out["pcodec"] = _pcodec_pair()
    return out


def _interleaved(fns: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median seconds per call of each fn, timed in turn round after round.

    The clock is this thread's CPU time (``time.thread_time``), not wall time: on a shared
    machine other processes take the CPU away at random, and wall-clock medians then move by
    several times between runs; CPU time does not count the time this process waits.  Every
    codec here runs single-threaded (blosc2 is set to one thread), so the comparison is fair.
    """
    clock = time.thread_time
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            inner = 1
            t0 = clock()
            fn()
            dt = clock() - t0
            if dt < 5e-3:  # short calls: average enough of them to beat the clock's grain
                inner = max(1, int(5e-3 / max(dt, 1e-6)))
                t0 = clock()
                for _ in range(inner):
                    fn()
                dt = (clock() - t0) / inner
            times[name].append(dt)
    return {k: statistics.median(v) for k, v in times.items()}


def _same(back: np.ndarray, x: np.ndarray) -> bool:
    return bool(back.dtype == x.dtype and back.shape == x.shape
                and back.tobytes() == x.tobytes())


def measure(corpus: Sequence[CorpusSeries], cs: dict[str, Codec], rounds: int,
            timing: bool = True) -> dict[str, dict]:
    """Sizes, bit-exactness and (``timing``) encode/decode seconds of every codec on every
    series.  Raises AssertionError when a lossless codec does not round-trip a series."""
    rows: dict[str, dict] = {}
    for s in corpus:
        x = s.values
        blobs = {name: c[0](x) for name, c in cs.items()}
        exact = {}
        for name, (_, dec, lossless) in cs.items():
            exact[name] = _same(np.asarray(dec(blobs[name], x)), x)
            if lossless and not exact[name]:
                raise AssertionError(f"{name} did not round-trip {s.name} bit-exactly")
        row = {"n": x.size, "dtype": str(x.dtype), "bytes": x.nbytes, "source": s.source,
               "size": {n: len(b) for n, b in blobs.items()}, "exact": exact}
        if timing:
            row["enc_s"] = _interleaved({n: (lambda c=c, x=x: c[0](x)) for n, c in cs.items()},
                                        rounds)
            row["dec_s"] = _interleaved({n: (lambda c=c, b=blobs[n], x=x: c[1](b, x))
                                         for n, c in cs.items()}, rounds)
        rows[s.name] = row
    return rows


def geomean(values) -> float:
    return float(np.exp(np.mean(np.log(np.asarray(list(values), dtype=np.float64)))))


# ------------------------------------------------------------------- leave-one-source-out

def tuning_grid() -> dict[str, tuple]:
    """The encoder's tunables (``codec._TUNING_GRID``), each checked to be a module constant."""
    grid = dict(getattr(_codec, "_TUNING_GRID", {}))
    for name, values in grid.items():
        if not name.startswith("_T_") or not hasattr(_codec, name):
            raise SystemExit(f"_TUNING_GRID names {name!r}, which is not a _T_* constant of "
                             "edgekit.compress.codec")
        if not values:
            raise SystemExit(f"_TUNING_GRID[{name!r}] is empty")
    return grid


def current_values(grid: Mapping[str, Sequence]) -> Assignment:
    return {name: getattr(_codec, name) for name in grid}


@contextmanager
def thresholds(values: Mapping[str, object]) -> Iterator[None]:
    """Set the codec's ``_T_*`` constants to ``values`` for the block, then restore them."""
    old = {k: getattr(_codec, k) for k in values}
    try:
        for k, v in values.items():
            setattr(_codec, k, v)
        yield
    finally:
        for k, v in old.items():
            setattr(_codec, k, v)


class RatioCache:
    """``ratio(name, values)``: pcodec's size / edgekit's size for series ``name`` encoded with
    the thresholds ``values``, every encode round-tripped bit-exactly and memoised."""

    def __init__(self, corpus: Sequence[CorpusSeries], pcodec_sizes: Mapping[str, int]):
        self.series = {s.name: s.values for s in corpus}
        self.pcodec = dict(pcodec_sizes)
        self.memo: dict[tuple, float] = {}
        self.encodes = 0

    def __call__(self, name: str, values: Mapping[str, object]) -> float:
        key = (name, tuple(sorted(values.items())))
        hit = self.memo.get(key)
        if hit is None:
            x = self.series[name]
            with thresholds(values):
                blob = encode(x)
            if not _same(decode(blob), x):
                raise AssertionError(f"edgekit did not round-trip {name} with {dict(values)}")
            self.encodes += 1
            hit = self.memo[key] = self.pcodec[name] / len(blob)
        return hit


def coordinate_descent(grid: Mapping[str, Sequence], start: Mapping[str, object],
                       objective: Callable[[Mapping[str, object]], float], passes: int = 3
                       ) -> tuple[Assignment, float]:
    """Maximise ``objective`` one tunable at a time over its grid values, from ``start``;
    a value replaces the current one only if it strictly improves the objective (so ties keep
    the defaults).  Stops after ``passes`` passes or a pass without a change."""
    cur: Assignment = dict(start)
    best = objective(cur)
    for _ in range(passes):
        changed = False
        for name, values in grid.items():
            for v in values:
                if v == cur[name]:
                    continue
                cand = {**cur, name: v}
                f = objective(cand)
                if f > best * (1 + 1e-9):
                    cur, best, changed = cand, f, True
        if not changed:
            break
    return cur, best


@dataclass
class LosoResult:
    folds: dict[str, Assignment]  # held-out source -> values chosen without it
    train_objective: dict[str, float]  # held-out source -> training geomean at its values
    held_out: dict[str, float]  # series -> ratio with its fold's values
    geomean: float  # of held_out over every series


def leave_one_source_out(groups: Mapping[str, Sequence[str]], grid: Mapping[str, Sequence],
                         start: Mapping[str, object],
                         ratio: Callable[[str, Mapping[str, object]], float],
                         passes: int = 3) -> LosoResult:
    """For each source S in ``groups`` (source -> series names): choose the tunables on the
    other sources' series (:func:`coordinate_descent` of their geometric-mean ``ratio``), then
    measure S's series with those values."""
    folds: dict[str, Assignment] = {}
    train_obj: dict[str, float] = {}
    held: dict[str, float] = {}
    for src, names in groups.items():
        train = [n for s, ns in groups.items() if s != src for n in ns]
        if not train:
            raise ValueError("leave-one-source-out needs at least two sources")
        chosen, obj = coordinate_descent(
            grid, start, lambda a, train=train: geomean(ratio(n, a) for n in train), passes)
        folds[src], train_obj[src] = chosen, obj
        for n in names:
            held[n] = ratio(n, chosen)
    return LosoResult(folds, train_obj, held, geomean(held.values()))


# ------------------------------------------------------------------------------ reporting

def _fmt(v: object) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _changes(values: Mapping[str, object], defaults: Mapping[str, object]) -> str:
    diff = [f"{k}={_fmt(v)}" for k, v in values.items() if v != defaults[k]]
    return ", ".join(diff) if diff else "defaults"


def verdict(rows: dict[str, dict], default: Mapping[str, float], loso: LosoResult | None,
            ) -> list[tuple[str, bool | None, str]]:
    """The issue's done-when items: (item, met (None: not measured), the numbers)."""
    items: list[tuple[str, bool | None, str]] = []
    items.append((f"bit-exact round trip of every corpus series ({len(rows)})",
                  all(r["exact"]["edgekit"] for r in rows.values()),
                  "checked for every encode of the run, the tuning encodes included"))
    worst = min(default, key=default.__getitem__)
    below = sorted(n for n, v in default.items() if v < MIN_SERIES_RATIO)
    items.append((f"no series below {MIN_SERIES_RATIO}x pcodec's ratio (defaults)",
                  not below, f"worst {worst} {default[worst]:.3f}; {len(below)} below"
                  + (f": {', '.join(below)}" if below else "")))
    gm = geomean(default.values())
    items.append((f"geometric mean >= {MIN_GEOMEAN_ALL}x pcodec, all series (defaults)",
                  gm >= MIN_GEOMEAN_ALL, f"{gm:.3f}"))
    if loso is None:
        items.append((f"geometric mean >= {MIN_GEOMEAN_LOSO}x pcodec, leave-one-source-out",
                      None, "not run"))
    else:
        worst = min(loso.held_out, key=loso.held_out.__getitem__)
        items.append((f"geometric mean >= {MIN_GEOMEAN_LOSO}x pcodec, leave-one-source-out",
                      loso.geomean >= MIN_GEOMEAN_LOSO,
                      f"{loso.geomean:.3f} (worst held-out series {worst} "
                      f"{loso.held_out[worst]:.3f})"))
    timed = {n: r for n, r in rows.items() if "dec_s" in r and r["n"] >= SPEED_N}
    for key, label, need in (("dec_s", "decode", MIN_DECODE_SPEED),
                             ("enc_s", "encode", MIN_ENCODE_SPEED)):
        item = f"{label} speed >= {need}x pcodec's on every series of >= {SPEED_N} values"
        if not timed:
            items.append((item, None, "not timed (--loso)"))
            continue
        sp = {n: r[key]["pcodec"] / r[key]["edgekit"] for n, r in timed.items()}
        slow = sorted((n for n in sp if sp[n] < need), key=sp.__getitem__)
        worst = min(sp, key=sp.__getitem__)
        items.append((item, not slow, f"{len(slow)} of {len(sp)} below; worst {worst} "
                      f"{sp[worst]:.2f}x; geometric mean {geomean(sp.values()):.2f}x"))
    return items


def ratio_tables(rows: dict[str, dict]) -> list[str]:
    names = list(next(iter(rows.values()))["size"])
    out = ["### Lossless ratio against the series' own bytes (higher is better)\n",
           "| series | source | dtype | points | " + " | ".join(names) + " |",
           "|---|---|---|---:|" + "---:|" * len(names)]
    for s, r in rows.items():
        cells = [f"{r['bytes'] / r['size'][n]:.2f}" + ("" if r["exact"][n] else "*")
                 for n in names]
        out.append(f"| {s} | {r['source']} | {r['dtype']} | {r['n']} | " + " | ".join(cells)
                   + " |")
    gm = {n: geomean(r["bytes"] / r["size"][n] for r in rows.values()) for n in names}
    out.append("| **geometric mean** | | | | " + " | ".join(f"**{gm[n]:.2f}**" for n in names)
               + " |")
    if "article (diff+zlib-6)" in names:
        out.append("\n\\* not bit-exact: the article's method works in float64 (an integer "
                   "series comes back as float64) and its float cumulative sum drifts on some "
                   "values; its ratio is shown for comparison.")
    out.append("")
    return out


def speed_tables(rows: dict[str, dict]) -> list[str]:
    names = list(next(iter(rows.values()))["size"])
    out = []
    for key, title in (("enc_s", "Encode"), ("dec_s", "Decode")):
        out.append(f"### {title} speed, MB/s of input (median of interleaved rounds, CPU "
                   "time)\n")
        out.append("| series | " + " | ".join(names) + " |")
        out.append("|---|" + "---:|" * len(names))
        for s, r in rows.items():
            out.append(f"| {s} | " + " | ".join(
                f"{r['bytes'] / r[key][n] / 1e6:.0f}" for n in names) + " |")
        out.append("")
    return out


def pcodec_table(rows: dict[str, dict], default: Mapping[str, float],
                 tuned_all: Mapping[str, float] | None, loso: LosoResult | None) -> list[str]:
    # columns: (title, per-series value, its summary over the series, format, bold)
    cols: list[tuple[str, Mapping[str, float], float, str, bool]] = [
        ("defaults", default, geomean(default.values()), ".3f", False)]
    if tuned_all is not None:
        cols.append(("tuned on all (in-sample)", tuned_all, geomean(tuned_all.values()),
                     ".3f", False))
    if loso is not None:
        cols.append(("held out (LOSO)", loso.held_out, loso.geomean, ".3f", True))
    if "dec_s" in next(iter(rows.values())):
        big = [n for n, r in rows.items() if r["n"] >= SPEED_N]
        for key, title in (("dec_s", "decode speed"), ("enc_s", "encode speed")):
            sp = {n: r[key]["pcodec"] / r[key]["edgekit"] for n, r in rows.items()}
            cols.append((title, sp, geomean(sp[n] for n in big) if big else math.nan,
                         ".2f", False))

    def cell(v: float, fmt: str, bold: bool) -> str:
        return f" **{v:{fmt}}** |" if bold else f" {v:{fmt}} |"

    out = ["### edgekit against pcodec, same run (ratio of ratios; speed ratios: > 1 means "
           "edgekit is faster)\n",
           "| series | source | points |" + "".join(f" {c[0]} |" for c in cols),
           "|---|---|---:|" + "---:|" * len(cols)]
    for s, r in rows.items():
        out.append(f"| {s} | {r['source']} | {r['n']} |"
                   + "".join(cell(c[1][s], c[3], c[4]) for c in cols))
    out.append("| **geometric mean** | | |" + "".join(cell(c[2], c[3], c[4]) for c in cols))
    if len(cols) > 3:
        out.append(f"\nSpeed geometric means are over the series of >= {SPEED_N} values.")
    out.append("")
    return out


def fold_table(loso: LosoResult, groups: Mapping[str, Sequence[str]],
               defaults: Mapping[str, object]) -> list[str]:
    out = ["### Leave-one-source-out folds: the values chosen without each source\n",
           "| held-out source | its series | training geometric mean | values chosen "
           "(besides the defaults) | held-out geometric mean |",
           "|---|---:|---:|---|---:|"]
    for src, names in groups.items():
        out.append(f"| {src} | {len(names)} | {loso.train_objective[src]:.3f} | "
                   f"{_changes(loso.folds[src], defaults)} | "
                   f"{geomean(loso.held_out[n] for n in names):.3f} |")
    out.append("")
    return out


def sensitivity_table(cache: RatioCache, names: Sequence[str], grid: Mapping[str, Sequence],
                      defaults: Mapping[str, object]) -> list[str]:
    """Each grid value alone (the others at their defaults), on every series."""
    base = {n: cache(n, defaults) for n in names}
    gm0 = geomean(base.values())
    out = ["### Each grid value alone, every series (the other tunables at their defaults)\n",
           "| tunable | value | geometric mean edgekit / pcodec | series changed | "
           "largest gain | largest loss |", "|---|---:|---:|---:|---|---|"]
    for k, vals in grid.items():
        for v in vals:
            now = {n: cache(n, {**defaults, k: v}) for n in names}
            rel = {n: now[n] / base[n] for n in names}
            moved = [n for n in names if now[n] != base[n]]
            up = max(rel, key=rel.__getitem__)
            dn = min(rel, key=rel.__getitem__)
            mark = " (default)" if v == defaults[k] else ""
            out.append(f"| {k} | {_fmt(v)}{mark} | {geomean(now.values()):.4f} "
                       f"({geomean(now.values()) / gm0 - 1:+.2%}) | {len(moved)} | "
                       + (f"{up} {rel[up] - 1:+.2%}" if rel[up] > 1 else "-") + " | "
                       + (f"{dn} {rel[dn] - 1:+.2%}" if rel[dn] < 1 else "-") + " |")
    out.append("")
    return out


def verdict_lines(items: list[tuple[str, bool | None, str]]) -> list[str]:
    out = ["### Done-when verdict (issue #16)\n", "| item | verdict | figures |",
           "|---|---|---|"]
    for item, met, detail in items:
        word = "not measured" if met is None else ("**met**" if met else "**not met**")
        out.append(f"| {item} | {word} | {detail} |")
    out.append("")
    return out


HEADER = """# edgekit.compress benchmarks

Produced by `python tools/compress_bench.py {args}` ({when}; {machine}; Python {py};
{backend} kernels; {rounds} interleaved rounds per speed figure, CPU time of the timing
thread; run time {runtime:.0f} s).  Corpus: `{corpus}`, {n} series from {k} sources.

## Protocol

* **Corpus.** Every `NAME.npy` of the corpus directory, in the dtype it was stored in (int16,
  int32, float32 or float64): every codec codes that array, and every ratio is against its
  own bytes.  The default corpus is `../shared/data/sensors` (41 real series, 17 sources; not
  shipped); the test suite runs on `tests/data/corpus` (a cut-down copy of every source
  family, see its README) and a fresh clone falls back to the 8 series of
  `edgekit/data/sensors`.  A series' *source* is the package its data came from (the first
  word of the json `source` field); the folds are the sources.
* **Codecs.** edgekit `encode`/`decode` at their defaults; pcodec
  `standalone.simple_compress(x, ChunkConfig())`; unless `--peers pcodec`: the article's
  method (np.diff + zlib-6 in float64, first value stored, float cumsum back: not bit-exact),
  zlib-6, zstd-3 and zstd-19 on the raw bytes, blosc2 byte shuffle or bitshuffle + zstd-5
  (one thread).  Every lossless round trip is checked bit for bit in the run (dtype, shape
  and bytes).
* **What is tuned.** The encoder's thresholds, the module constants `_T_*` of
  `edgekit/compress/codec.py`; the candidate values are `codec._TUNING_GRID`, read at run
  time.  Now:

{grid}

* **Objective.** The geometric mean over the training series of pcodec's size / edgekit's
  size (sizes only: exact, no timing noise).
* **Search.** Coordinate descent over the grid starting from the defaults: each tunable in
  turn takes the grid value that strictly improves the objective (ties keep the current
  value), up to {passes} passes or until a pass changes nothing.  Full series, no sampling.
* **Folds.** For each source S, the values are chosen on the other sources' series only, and
  edgekit with those values is measured on S's series.  The **leave-one-source-out (LOSO)
  geometric mean** is over every series, each measured with its own fold's values.
* **What is quoted.** The LOSO figure first (it is the one in the README and
  `docs/claims.md`): it is what a source the thresholds never saw can expect.  Next to it:
  the all-series figure with the shipped defaults, and the in-sample figure (tuned on every
  source) that shows how much tuning on the test data would flatter the result.
* **Speeds.** MB/s of input; each figure is the median of interleaved rounds (every codec of
  the table in turn, round after round) of `time.thread_time` (CPU time: on a shared
  machine, wall time mostly measures the neighbours).  All codecs run single-threaded.
  Done-when speed checks cover the series of >= {speed_n} values.
* **Run time** (2 shared cores): `--loso` about 5 s; `--peers pcodec` about 15 s of CPU;
  every peer about 170 s of CPU (zstd-19 and zlib on the three 500,000-value series).

## Results

"""


def default_corpus() -> Path:
    """``../shared/data/sensors`` beside the repository when present, else the shipped 8."""
    return DEFAULT_CORPUS if DEFAULT_CORPUS.is_dir() else SHIPPED_DIR


def _shown_path(p: Path) -> str:
    """``p`` relative to the repository (``../shared/...`` beside it), else as given."""
    p = p.resolve()
    if p.is_relative_to(ROOT):
        return str(p.relative_to(ROOT))
    if p.is_relative_to(ROOT.parent):
        return str(Path("..") / p.relative_to(ROOT.parent))
    return str(p)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=None,
                    help="directory of NAME.npy + NAME.json (default ../shared/data/sensors "
                         "beside the repo, else the shipped series)")
    ap.add_argument("--peers", choices=("all", "pcodec"), default="all",
                    help="'pcodec': edgekit against pcodec only")
    ap.add_argument("--loso", action="store_true",
                    help="ratios and the leave-one-source-out protocol only (no timing)")
    ap.add_argument("--no-loso", action="store_true", help="skip the LOSO protocol")
    ap.add_argument("--passes", type=int, default=3, help="coordinate-descent passes")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--write", action="store_true", help="write docs/compress/benchmarks.md")
    ap.add_argument("--strict", action="store_true",
                    help="exit 1 unless every done-when item measured is met")
    ap.add_argument("series", nargs="*", help="only these series")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()

    corpus_dir = args.corpus or default_corpus()
    corpus = load_corpus(corpus_dir, args.series or None)
    groups = by_source(corpus)
    print(f"corpus {corpus_dir}: {len(corpus)} series, {len(groups)} sources", flush=True)

    cs = codecs("pcodec" if args.loso else args.peers)
    rows = measure(corpus, cs, args.rounds, timing=not args.loso)
    pc = {n: r["size"]["pcodec"] for n, r in rows.items()}
    default = {n: pc[n] / r["size"]["edgekit"] for n, r in rows.items()}

    grid = tuning_grid()
    defaults = current_values(grid)
    loso: LosoResult | None = None
    tuned_all: dict[str, float] | None = None
    lines: list[str] = []
    if not args.loso:
        lines += ratio_tables(rows) + speed_tables(rows)
    if not args.no_loso and len(groups) >= 2 and grid:
        cache = RatioCache(corpus, pc)
        t0 = time.perf_counter()
        loso = leave_one_source_out(groups, grid, defaults, cache, args.passes)
        for n, v in default.items():  # the overrides must leave the defaults' output alone
            if cache(n, defaults) != v:
                raise AssertionError(f"{n}: {cache(n, defaults)} at the defaults in the "
                                     f"tuning run, {v} in the measured run")
        names = [s.name for s in corpus]
        chosen_all, _ = coordinate_descent(
            grid, defaults, lambda a: geomean(cache(n, a) for n in names), args.passes)
        tuned_all = {n: cache(n, chosen_all) for n in names}
        print(f"LOSO: {len(groups)} folds, {cache.encodes} distinct encodes, "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
        lines += [f"Tuned on all sources (in-sample): {_changes(chosen_all, defaults)}.\n"]
    lines += pcodec_table(rows, default, tuned_all, loso)
    if loso is not None:
        lines += fold_table(loso, groups, defaults)
        lines += sensitivity_table(cache, [s.name for s in corpus], grid, defaults)
    items = verdict(rows, default, loso)
    lines += verdict_lines(items)
    summary = (f"edgekit / pcodec ratio, geometric mean: all series (defaults) "
               f"{geomean(default.values()):.3f}")
    if loso is not None:
        worst = sorted(loso.held_out, key=loso.held_out.__getitem__)[:3]
        summary = (f"edgekit / pcodec ratio, geometric mean: **leave-one-source-out "
                   f"{loso.geomean:.3f}**; " + summary.split(": ", 1)[1]
                   + f"; in-sample tuned {geomean(tuned_all.values()):.3f}.  Worst held-out "
                   "series: " + ", ".join(f"{n} {loso.held_out[n]:.3f}" for n in worst) + ".")
    lines = [summary, ""] + lines
    text = "\n".join(lines)
    print(text)
    runtime = time.perf_counter() - t_start
    print(f"run time {runtime:.0f} s")
    if args.write:
        grid_md = "\n".join(f"  * `{k}`: default {_fmt(defaults[k])}, grid "
                            f"{', '.join(_fmt(v) for v in vals)}" for k, vals in grid.items())
        shown = " ".join(a for a in (argv if argv is not None else sys.argv[1:]))
        corpus_shown = _shown_path(corpus_dir)
        head = HEADER.format(
            args=shown, when=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            machine=f"{platform.machine()} {platform.processor() or ''}".strip(),
            py=platform.python_version(), backend=_backend.NAME, rounds=args.rounds,
            runtime=runtime, corpus=corpus_shown, n=len(corpus), k=len(groups), grid=grid_md,
            passes=args.passes, speed_n=SPEED_N)
        DOC.write_text(head + text + "\n", encoding="utf-8")
    if args.strict and any(met is False for _, met, _ in items):
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
