"""Compressed updates and differential privacy on the federated study's setup (issue #18).

sklearn digits, the 650-parameter softmax regression, 10 clients with Dirichlet(0.1) label
skew, 5 of 10 clients a round, 1 local epoch (strategies.DEFAULT_FIT_CONFIG), FedAvg; every
row is run on the same 10 seeds (the fleet's partition, sampling and the codecs' rounding
vary with the seed) and the table gives medians over seeds.  Bytes up are ``len()`` of what
each client sent (the wire format), per client per round.

    python tools/federated_compression_study.py              # the table (markdown)
    python tools/federated_compression_study.py --tune       # the quantiser's chunk grid
    python tools/federated_compression_study.py --seeds 3 --rounds 30   # quicker
    python tools/federated_compression_study.py --entropy    # does zlib/edgekit.compress pay?
    python tools/federated_compression_study.py --profile    # encode+decode CPU time

``--tune`` measures ``_T_QUANT_CHUNK``'s grid on real client deltas: tuned on the softmax
model on digits, checked on models it was not tuned on (a 2,410-parameter MLP on digits, and
the MLP on breast_cancer).
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edgekit.federated import FedAvg, simulate  # noqa: E402
from edgekit.federated._tasks import evaluator, fleet, load_task  # noqa: E402
from edgekit.federated.compression import (  # noqa: E402
    _TUNING_GRID,
    Float32Codec,
    QuantizedCodec,
    TopKCodec,
)
from edgekit.federated.privacy import CentralDP, LocalDP, privacy_spent  # noqa: E402

N_CLIENTS, ALPHA, FRACTION, DELTA = 10, 0.1, 0.5, 1e-5
TARGET = 0.90


def _run(task: Any, seed: int, rounds: int, *, codec: Any = None,
         wrap: Callable[[Any, int], Any] | None = None, local: dict[str, float] | None = None,
         model: str = "softmax") -> dict[str, float]:
    clients, init = fleet(task, n_clients=N_CLIENTS, alpha=ALPHA, seed=seed, model=model)
    if local is not None:
        clients = {cid: LocalDP(c, seed=seed * 100 + i, **local)
                   for i, (cid, c) in enumerate(clients.items())}
    strategy = FedAvg(init, fraction_fit=FRACTION)
    if wrap is not None:
        strategy = wrap(strategy, seed)
    hist = simulate(strategy, clients, rounds=rounds, fraction=FRACTION, seed=seed,
                    evaluate_fn=evaluator(task, model), codec=codec, progress=False)
    ups = [n for r in hist.rounds for n in r.bytes_up.values()]
    hit = hist.rounds_to("accuracy", TARGET)
    return {"bytes_up": float(np.median(ups)), "accuracy": hist.final("accuracy"),
            "rounds_to": math.inf if hit is None else float(hit),
            "epsilon": hist.final("epsilon")}


def _rows(clip: float) -> list[tuple[str, dict[str, Any]]]:
    rows: list[tuple[str, dict[str, Any]]] = [
        ("float32, raw parameters (no codec)", {}),
        ("Float32Codec (delta)", {"codec": Float32Codec}),
        ("QuantizedCodec(8)", {"codec": lambda: QuantizedCodec(8)}),
        ("QuantizedCodec(8, stochastic=False)",
         {"codec": lambda: QuantizedCodec(8, stochastic=False)}),
        ("QuantizedCodec(4)", {"codec": lambda: QuantizedCodec(4)}),
        ("QuantizedCodec(2)", {"codec": lambda: QuantizedCodec(2)}),
        ("TopKCodec(0.1)", {"codec": lambda: TopKCodec(0.1)}),
        ("TopKCodec(0.1, error_feedback=False)",
         {"codec": lambda: TopKCodec(0.1, error_feedback=False)}),
        ("TopKCodec(0.02)", {"codec": lambda: TopKCodec(0.02)}),
    ]
    def central(z: float) -> Callable[[Any, int], Any]:
        return lambda s, seed: CentralDP(s, clip_norm=clip, noise_multiplier=z, delta=DELTA,
                                         num_clients=N_CLIENTS, seed=seed)

    for z in (0.0, 0.1, 0.3, 1.0):  # z = 0: the cost of clipping and equal weights alone
        rows.append((f"CentralDP(clip={clip:g}, z={z:g})", {"wrap": central(z)}))
    rows.append(("CentralDP(adaptive clip from 0.1 to the median, z=0.3)", {"wrap": (
        lambda s, seed: CentralDP(s, clip_norm=0.1, noise_multiplier=0.3, delta=DELTA,
                                  num_clients=N_CLIENTS, target_quantile=0.5, seed=seed))}))
    rows.append((f"LocalDP(clip={clip:g}, z=0.1) on every client",
                 {"local": {"clip_norm": clip, "noise_multiplier": 0.1, "delta": DELTA}}))
    return rows


def _median_update_norm(task: Any, seeds: range, rounds: int) -> float:
    """The median L2 norm of a client's update without DP (the usual way to pick a fixed
    clip: McMahan et al. 2018 and Andrew et al. 2021 clip near the median)."""
    norms: list[float] = []

    class Probe(Float32Codec):
        def encode(self, update, *, client="", rng=None):  # type: ignore[override]
            norms.append(math.sqrt(sum(float(np.sum(np.square(a, dtype=np.float64)))
                                       for a in update)))
            return super().encode(update, client=client, rng=rng)

    for seed in seeds:
        _run(task, seed, rounds, codec=Probe())
    return float(np.median(norms))


def table(seeds: int, rounds: int) -> str:
    task = load_task("digits")
    seed_list = range(seeds)
    clip = float(f"{_median_update_norm(task, range(2), rounds):.2g}")
    out = [f"digits, softmax (650 parameters), {N_CLIENTS} clients, Dirichlet({ALPHA}), "
           f"{int(FRACTION * N_CLIENTS)} a round, 1 local epoch, FedAvg, {rounds} rounds, "
           f"medians over {seeds} seeds; DP clip = median update norm without DP ({clip:g})",
           "",
           "| uplink | bytes up / client / round | vs raw | accuracy "
           "| Δ accuracy, points (range over seeds) "
           f"| rounds to {TARGET:.0%} | ε (δ={DELTA:g}) |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    base: dict[int, dict[str, float]] = {}
    t0 = time.perf_counter()
    for name, spec in _rows(clip):
        runs = {}
        for seed in seed_list:
            codec = spec["codec"]() if "codec" in spec else None
            runs[seed] = _run(task, seed, rounds, codec=codec, wrap=spec.get("wrap"),
                              local=spec.get("local"))
        if not base:
            base = runs
        med = {k: float(np.median([r[k] for r in runs.values()]))
               for k in ("bytes_up", "accuracy", "rounds_to")}
        diffs = [100 * (runs[s]["accuracy"] - base[s]["accuracy"]) for s in seed_list]
        diff = float(np.median(diffs))
        eps = runs[0]["epsilon"]
        if "local" in spec:
            eps = privacy_spent(spec["local"]["noise_multiplier"] / 2, 1.0,
                                rounds, DELTA)  # a client that took part every round
        raw = float(np.median([r["bytes_up"] for r in base.values()]))
        rt = "never" if math.isinf(med["rounds_to"]) else f"{med['rounds_to']:g}"
        eps_s = "" if math.isnan(eps) else f"{eps:.3g}"
        out.append(f"| {name} | {med['bytes_up']:,.0f} | {raw / med['bytes_up']:.2f}x | "
                   f"{med['accuracy']:.4f} | {diff:+.2f} ({min(diffs):+.2f} to "
                   f"{max(diffs):+.2f}) | {rt} | {eps_s} |")
        print(out[-1], file=sys.stderr, flush=True)
    out += ["", f"({time.perf_counter() - t0:.0f} s wall; LocalDP's ε is per client over "
            f"{rounds} rounds without sampling amplification)"]
    return "\n".join(out)


def _deltas(task: Any, model: str, seeds: range, rounds: int) -> list[list[np.ndarray]]:
    got: list[list[np.ndarray]] = []

    class Probe(Float32Codec):
        def encode(self, update, *, client="", rng=None):  # type: ignore[override]
            got.append([np.array(a) for a in update])
            return super().encode(update, client=client, rng=rng)

    for seed in seeds:
        _run(task, seed, rounds, codec=Probe(), model=model)
    return got


def tune(rounds: int) -> str:
    sets = {
        "digits softmax (tuning)": (load_task("digits"), "softmax"),
        "digits MLP (held out)": (load_task("digits"), "mlp"),
        "breast_cancer MLP (held out)": (load_task("breast_cancer"), "mlp"),
    }
    out = ["| deltas | bits | chunk | bytes / parameter | RMS error / RMS delta | cost |",
           "|---|---:|---:|---:|---:|---:|",
           ]
    for label, (task, model) in sets.items():
        deltas = _deltas(task, model, range(3), rounds)[::5]
        for bits in (8, 4):
            for chunk in _TUNING_GRID["_T_QUANT_CHUNK"]:
                codec = QuantizedCodec(bits, chunk=chunk)
                rng = np.random.default_rng(0)
                size, err, ref, n = 0, 0.0, 0.0, 0
                for d in deltas:
                    data = codec.encode(d, client="t", rng=rng)
                    back = codec.decode(data, like=d)
                    size += len(data)
                    n += sum(a.size for a in d)
                    err += sum(float(np.sum((a.astype(np.float64) - b) ** 2))
                               for a, b in zip(d, back, strict=True))
                    ref += sum(float(np.sum(a.astype(np.float64) ** 2)) for a in d)
                rel = math.sqrt(err / ref)
                out.append(f"| {label} | {bits} | {chunk} | {size / n:.3f} | {rel:.4f} | "
                           f"{8 * size / n + math.log2(rel):.3f} |")
    out += ["", "cost: bits a parameter + log2(relative RMS error); one more bit halves the "
            "error, so the lowest cost is the best rate at equal error"]
    return "\n".join(out)


def entropy(rounds: int) -> str:
    """Does a general compressor shrink what the codecs send?  Median bytes over the digits
    softmax deltas: the 8-bit codes of the (64, 10) weights, and top-k's index stream."""
    import zlib

    import edgekit.compress as ec
    from edgekit.federated.compression import _pack_codes, _varint_encode

    deltas = _deltas(load_task("digits"), "softmax", range(3), rounds)[::3]
    rows: dict[str, list[int]] = {}
    for d in deltas:
        w = d[0].ravel().astype(np.float64)
        for bits in (8, 4):
            codes = np.round((w - w.min()) / (np.ptp(w) or 1.0) * ((1 << bits) - 1))
            packed = _pack_codes(codes.astype(np.uint8), bits)
            rows.setdefault(f"{bits}-bit codes: packed", []).append(len(packed))
            rows.setdefault(f"{bits}-bit codes: zlib", []).append(len(zlib.compress(packed, 6)))
            rows.setdefault(f"{bits}-bit codes: edgekit.compress", []).append(
                len(ec.encode(codes.astype(np.uint8))))
        for frac in (0.02, 0.1, 0.3):
            k = max(1, math.ceil(frac * w.size))
            idx = np.sort(np.argpartition(-np.abs(w), k - 1)[:k])
            var = _varint_encode(np.diff(idx, prepend=-1) - 1)
            rows.setdefault(f"top-{frac:g} indices: varint gaps", []).append(len(var))
            rows.setdefault(f"top-{frac:g} indices: bitmap", []).append(-(-w.size // 8))
            rows.setdefault(f"top-{frac:g} indices: zlib(varint)", []).append(
                len(zlib.compress(var, 9)))
            rows.setdefault(f"top-{frac:g} indices: edgekit.compress", []).append(
                len(ec.encode(idx.astype(np.int32))))
    out = [f"| stream (640 weights, {len(deltas)} client deltas) | median bytes |", "|---|---:|"]
    out += [f"| {k} | {np.median(v):.0f} |" for k, v in rows.items()]
    return "\n".join(out)


def profile() -> str:
    """CPU time of encode + decode (median of interleaved repeats, time.thread_time)."""
    rng = np.random.default_rng(0)
    out = ["| parameters | codec | encode+decode ms (CPU) |", "|---:|---|---:|"]
    for n in (650, 1_000_000):
        upd = [rng.normal(0, 0.01, n).astype(np.float32)]
        codecs = [Float32Codec(), QuantizedCodec(8), QuantizedCodec(4), TopKCodec(0.1)]
        times: dict[str, list[float]] = {repr(c): [] for c in codecs}
        for _ in range(7 if n > 1000 else 200):
            for c in codecs:
                t = time.thread_time()
                c.decode(c.encode(upd, client="p", rng=rng), like=upd)
                times[repr(c)].append(time.thread_time() - t)
        out += [f"| {n:,} | {k} | {1000 * np.median(v):.2f} |" for k, v in times.items()]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument("--tune", action="store_true", help="the quantiser's chunk grid")
    ap.add_argument("--entropy", action="store_true",
                    help="zlib / edgekit.compress on the codes and index streams")
    ap.add_argument("--profile", action="store_true", help="encode+decode CPU time")
    args = ap.parse_args(argv)
    logging.getLogger("absl").setLevel(logging.ERROR)
    if args.tune:
        print(tune(args.rounds))
    elif args.entropy:
        print(entropy(args.rounds))
    elif args.profile:
        print(profile())
    else:
        print(table(args.seeds, args.rounds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
