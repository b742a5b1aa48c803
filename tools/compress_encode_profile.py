"""Where edgekit.compress's encode time goes, step by step, per corpus series
(docs/compress/speed.md, "Encode: the block search").

Each step of the block search (the functions of ``_STEPS``: candidates, dictionary
estimate, predictor search, lanes, stream form, and every C kernel wrapper of
``edgekit.compress._kernels``) is wrapped in a timer of ``time.thread_time_ns()`` that
adds its time to the step (inclusive of the steps it calls) and to its caller's "self"
time only once, so the table gives for each step: calls per encode, inclusive and
exclusive microseconds per encode.  A wrapper costs ~0.3 us a call, so the total runs
above a plain encode (printed beside it, median of CPU time over ``--rounds``).  Usage::

    python tools/compress_encode_profile.py [--rounds N] [--top K] [--data DIR] names...
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, os.getcwd())

import numpy as np  # noqa: E402

from edgekit.compress import _kernels as K  # noqa: E402
from edgekit.compress import _v2  # noqa: E402
from edgekit.compress import codec as C  # noqa: E402

_STEPS = {
    C: ["_encode_block", "_float_candidates", "_quant_candidate", "_int_candidate",
        "_affine_guess", "_lossy_candidates", "_stream_encode", "_runs_pay", "_plain_body",
        "_body_from_tokens", "_table_field", "_sample", "_cost_bits", "_varint"],
    _v2: ["improve", "dict_candidate", "split_candidate", "pred_candidate", "_pred_search",
          "_lanes_pick", "_distinct_counts", "_dict_bits", "_small_bits", "_small", "rank",
          "predict", "predict_lanes", "pred_hist", "lanes_extra", "descriptor", "_bins",
          "_stream_bits"],
}

_incl: dict[str, int] = defaultdict(int)
_excl: dict[str, int] = defaultdict(int)
_calls: dict[str, int] = defaultdict(int)
_stack: list[list[int]] = []


def _wrap(name: str, f):
    def timed(*a, **kw):
        _stack.append([0])
        t0 = time.thread_time_ns()
        try:
            return f(*a, **kw)
        finally:
            dt = time.thread_time_ns() - t0
            inner = _stack.pop()[0]
            _incl[name] += dt
            _excl[name] += dt - inner
            _calls[name] += 1
            if _stack:
                _stack[-1][0] += dt
    return timed


def _install() -> None:
    for mod, names in _STEPS.items():
        for n in names:
            setattr(mod, n, _wrap(f"{mod.__name__.rsplit('.', 1)[-1]}.{n}", getattr(mod, n)))
    for n in dir(K):
        f = getattr(K, n)
        if callable(f) and not n.startswith("_") and getattr(f, "__module__", "") == K.__name__ \
                and n not in ("scratch", "in_scratch", "release_scratch", "native"):
            wrapped = _wrap(f"K.{n}", f)
            setattr(K, n, wrapped)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="+")
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--level", type=int, default=5)
    ap.add_argument("--incl", action="store_true", help="sort by inclusive time")
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"
                                                    / "sensors"))
    args = ap.parse_args()
    paths = [p for nm in args.names for p in sorted(glob.glob(os.path.join(args.data,
                                                                            f"*{nm}*.npy")))]
    xs = {p: np.load(p) for p in paths}
    plain = {}
    for p, x in xs.items():
        for _ in range(3):
            C.encode(x, level=args.level)
        ts = []
        for _ in range(args.rounds):
            t0 = time.thread_time_ns()
            C.encode(x, level=args.level)
            ts.append(time.thread_time_ns() - t0)
        plain[p] = statistics.median(ts) / 1e3
    _install()
    for p, x in xs.items():
        _incl.clear()
        _excl.clear()
        _calls.clear()
        C.encode(x, level=args.level)
        _incl.clear()
        _excl.clear()
        _calls.clear()
        t0 = time.thread_time_ns()
        for _ in range(args.rounds):
            C.encode(x, level=args.level)
        total = (time.thread_time_ns() - t0) / 1e3 / args.rounds
        r = args.rounds
        inner = sum(_excl.values()) / 1e3 / r
        print(f"=== {os.path.basename(p)[:-4]}  n={x.size} {x.dtype}: encode {plain[p]:.0f} us "
              f"(timed {total:.0f} us; outside the steps {total - inner:.0f} us)")
        print(f"    {'step':28s} {'calls':>5s} {'incl_us':>8s} {'self_us':>8s}")
        for n in sorted(_excl, key=lambda k: -(_incl[k] if args.incl else _excl[k]))[: args.top]:
            print(f"    {n:28s} {_calls[n] / r:5.1f} {_incl[n] / 1e3 / r:8.1f} "
                  f"{_excl[n] / 1e3 / r:8.1f}")


if __name__ == "__main__":
    main()
