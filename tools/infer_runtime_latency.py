"""Invoke latency of each installed TFLite runtime on edgekit's models (float32 and int8):
interleaved rounds (every runtime and model once per round, in a rotating order), the CPU
time of one ``invoke`` (``time.thread_time``: 1 interpreter thread runs on the caller's
thread; wall time on a shared machine mostly measures the neighbours), median over rounds.

    python tools/infer_runtime_latency.py [--rounds 200]

Needs two runtimes in one venv to compare them: tflite-runtime 2.14 needs numpy < 2, and
ai-edge-litert runs there too, e.g.
``python3 -m venv /tmp/rt && /tmp/rt/bin/pip install "numpy<2" tflite-runtime==2.14.0
ai-edge-litert cffi cryptography pillow`` then ``/tmp/rt/bin/python tools/infer_runtime_latency.py``
from the checkout.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from edgekit.infer import Model, available_runtimes, load_image, preprocess  # noqa: E402
from tests.infer.helpers import ASTRONAUT, FACE, SSD  # noqa: E402

MODELS = {"face f32": FACE, "ssd f32": SSD["f32"], "ssd int8": SSD["int8"],
          "ssd uint8": SSD["uint8"]}
DISTS = {"ai_edge_litert": "ai-edge-litert", "tflite_runtime": "tflite-runtime",
         "tensorflow": "tensorflow"}


def _loaded(runtime: str, path: Path, image: np.ndarray) -> Model:
    m = Model.load(path, runtime=runtime, num_threads=1)
    inp = m.inputs[0]
    buf = m.input_buffer()
    preprocess(image, buf, value_range=(-1.0, 1.0), quant_scale=inp.scale,
               zero_point=inp.zero_point, keep_aspect=False)
    m.set_input(buf)
    m.invoke()  # warm-up: the first invoke prepares the delegate
    return m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()
    runtimes = available_runtimes()
    image = load_image(ASTRONAUT)
    models = {(r, name): _loaded(r, path, image) for r in runtimes
              for name, path in MODELS.items()}
    keys = list(models)
    times: dict[tuple[str, str], list[float]] = {k: [] for k in keys}
    for i in range(args.rounds):
        for k in keys[i % len(keys):] + keys[:i % len(keys)]:
            t0 = time.thread_time()
            models[k].invoke()
            times[k].append(time.thread_time() - t0)
    print(f"numpy {np.__version__}; " + ", ".join(
        f"{DISTS[r]} {version(DISTS[r])}" for r in runtimes) + f"; {args.rounds} rounds")
    print(f"{'model':<10}" + "".join(f"{r:>18}" for r in runtimes) + "   (median invoke, ms)")
    for name in MODELS:
        meds = [statistics.median(times[(r, name)]) * 1e3 for r in runtimes]
        ratio = f"   x{meds[1] / meds[0]:.1f}" if len(meds) > 1 else ""
        print(f"{name:<10}" + "".join(f"{m:>18.3f}" for m in meds) + ratio)


if __name__ == "__main__":
    main()
