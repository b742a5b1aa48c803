"""``edgekit.show_config()`` / ``edgekit info``: what this installation has."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
import sys
from typing import Any, TextIO

# (import name, distribution name, what needs it / extra)
OPTIONAL_DEPENDENCIES: tuple[tuple[str, str, str], ...] = (
    ("ai_edge_litert", "ai-edge-litert", "infer: LiteRT interpreter [infer]"),
    ("tflite_runtime", "tflite-runtime", "infer: legacy TFLite runtime"),
    ("tensorflow", "tensorflow", "infer: tensorflow.lite runtime"),
    ("PIL", "pillow", "infer: JPEG/PNG loading [infer]"),
    ("scipy", "scipy", "schedule: optimal placement (MILP) [schedule]"),
    ("numcodecs", "numcodecs", "compress: numcodecs/zarr codec [zarr]"),
    ("zarr", "zarr", "compress: fleet archives, zarr 3 codec [fleet]"),
    ("dask", "dask", "compress: parallel fleet archive reads [fleet]"),
    ("aiohttp", "aiohttp", "aio: HTTP fan-in [aio]"),
    ("prometheus_client", "prometheus-client", "metrics: Prometheus [metrics]"),
    ("zstandard", "zstandard", "update: zstd streams [update]"),
    ("paho", "paho-mqtt", "twin: shadows over MQTT [twin]"),
)
CORE_DEPENDENCIES = ("numpy", "cryptography", "cffi")


def _dist_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def config() -> dict[str, Any]:
    """The facts :func:`show_config` prints, as a dict (for tools and tests)."""
    from edgekit import _backend
    from edgekit._version import __version__

    optional = {}
    for module, dist, purpose in OPTIONAL_DEPENDENCIES:
        present = importlib.util.find_spec(module) is not None
        optional[module] = {
            "distribution": dist,
            "version": _dist_version(dist) if present else None,
            "present": present,
            "purpose": purpose,
        }
    return {
        "version": __version__,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": f"{sys.platform} {platform.machine()}",
        "backend": _backend.NAME,
        "backend_requested": _backend.REQUESTED,
        "backend_load_error": _backend.LOAD_ERROR,
        "crypto_load_error": _backend.CRYPTO_LOAD_ERROR,
        "native_kernels": list(_backend.native_kernels()),
        "core": {name: _dist_version(name) for name in CORE_DEPENDENCIES},
        "optional": optional,
    }


def show_config(file: TextIO | None = None) -> None:
    """Print edgekit's version, kernel backend, native kernels and optional dependencies."""
    out = file or sys.stdout
    c = config()
    print(f"edgekit {c['version']}", file=out)
    print(f"  python:   {c['python']} on {c['platform']}", file=out)
    print(f"  backend:  {c['backend']} (EDGEKIT_BACKEND={c['backend_requested']})", file=out)
    if c["backend_load_error"]:
        print(f"            extension not loaded: {c['backend_load_error']}", file=out)
    if c["crypto_load_error"]:
        print(f"            envelope opener not loaded: {c['crypto_load_error']}", file=out)
    kernels = c["native_kernels"]
    print(f"  native kernels: {len(kernels)}", file=out)
    families: dict[str, list[str]] = {}
    for name in kernels:
        stem, _, width = name.removeprefix("ek_").rpartition("_")
        families.setdefault(stem, []).append(width)
    for stem, widths in families.items():
        print(f"    {stem} ({', '.join(widths)})", file=out)
    print("  core:     " + ", ".join(f"{k} {v}" for k, v in c["core"].items()), file=out)
    print("  optional:", file=out)
    for info in c["optional"].values():
        state = info["version"] or ("present" if info["present"] else "-")
        print(f"    {info['distribution']:<18} {state:<10} {info['purpose']}", file=out)
