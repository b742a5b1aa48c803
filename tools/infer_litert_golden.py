"""Write tests/infer/data/litert_detections.json: LiteRT's detections on every case of
tests/infer/runtime_cases.py, which the other runtimes must reproduce
(tests/infer/test_runtimes.py).

Each case is run twice on LiteRT: as installed (XNNPACK, what a user gets) and with the
built-in kernels only (``OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES``).  The two agree
to the bit on the float models; on int8/uint8 models XNNPACK's kernels round differently
from the built-in ones (up to a few LSB in intermediate tensors), and tflite-runtime 2.14
runs int8 models on the built-in kernels, so it is compared with the second list.

    python tools/infer_litert_golden.py      # in the development venv (ai-edge-litert)

Rerun it when a model, an image, a case or edgekit's pre/post-processing changes on purpose.
"""

from __future__ import annotations

import functools
import json
import sys
import types
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import edgekit.infer.runtime as rt  # noqa: E402
from tests.infer.runtime_cases import CASES, GOLDEN, detect  # noqa: E402


def _builtin_kernels_only() -> None:
    """Make edgekit's LiteRT interpreters use the built-in kernels, without XNNPACK."""
    mod = rt._import("ai_edge_litert")
    if mod is None:
        raise SystemExit("ai-edge-litert is not installed: pip install 'edgekit[infer]'")
    builtin = types.SimpleNamespace(Interpreter=functools.partial(
        mod.Interpreter,
        experimental_op_resolver_type=mod.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES))
    real = rt._import
    rt._import = lambda name: builtin if name == "ai_edge_litert" else real(name)


def _short(value):
    """Floats as their shortest float32 spelling (they are float32 values: exact, and half
    the digits of float64's)."""
    if isinstance(value, float):
        return float(np.format_float_positional(np.float32(value), unique=True, trim="-"))
    if isinstance(value, (list, tuple)):
        return [_short(v) for v in value]
    if isinstance(value, dict):
        return {k: _short(v) for k, v in value.items()}
    return value


def _dumps(golden: dict) -> str:
    """One detection a line, so that a diff of the file says which detection changed."""
    lines = ["{"] + [f" {json.dumps(k)}: {json.dumps(v)}," for k, v in golden.items()
                     if k != "cases"] + [' "cases": {']
    for i, (case, runs) in enumerate(golden["cases"].items()):
        lines.append(f"  {json.dumps(case)}: {{")
        for j, (kernels, found) in enumerate(runs.items()):
            lines.append(f"   {json.dumps(kernels)}: [")
            lines += [f"    {json.dumps(_short(d))}," for d in found]
            lines[-1] = lines[-1].rstrip(",")
            lines.append("   ]" + ("," if j < len(runs) - 1 else ""))
        lines.append("  }" + ("," if i < len(golden["cases"]) - 1 else ""))
    lines += [" }", "}", ""]
    return "\n".join(lines)


def main() -> None:
    cases: dict[str, dict] = {}
    for case in CASES:
        run = detect(case, "ai_edge_litert")
        assert run.runtime == "ai_edge_litert" and run.detections, case
        cases[case] = {"xnnpack": run.detections}
    _builtin_kernels_only()
    for case in CASES:
        cases[case]["builtin"] = detect(case, "ai_edge_litert").detections
    golden = {"made_by": "tools/infer_litert_golden.py",
              "ai_edge_litert": version("ai-edge-litert"), "numpy": np.__version__,
              "cases": cases}
    GOLDEN.write_text(_dumps(golden))
    same = [c for c in CASES if cases[c]["xnnpack"] == cases[c]["builtin"]]
    print(f"wrote {GOLDEN.relative_to(ROOT)}: {len(CASES)} cases, "
          f"{sum(len(v['xnnpack']) for v in cases.values())} detections; XNNPACK == built-in "
          f"kernels on {len(same)} ({', '.join(sorted({c.split('/')[0] for c in same}))})")


if __name__ == "__main__":
    main()
