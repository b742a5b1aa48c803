"""A directory of real series (``NAME.npy`` + ``NAME.json``) read as a benchmark corpus.

Used by ``tools/compress_bench.py`` and the compression tests: each series keeps the dtype it
was stored in (int16, int32, float32, float64...), and is grouped by the package it came from
(the first word of its json ``source`` field: ``"obspy 1.5.1 (obspy-1.5.1-...whl)"`` ->
``"obspy"``), which is the unit of the leave-one-source-out protocol.  Three corpora exist:
the full one beside the repository (``../shared/data/sensors``, 41 series from 17 sources,
not shipped), the 8 series shipped in ``edgekit/data/sensors``, and the cut-down copy of
every source family under ``tests/data/corpus`` that the test suite uses.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.errors import InputError

SHIPPED_DIR = Path(__file__).resolve().parent / "sensors"
"""The 8 series shipped with the package."""


@dataclass(frozen=True)
class CorpusSeries:
    """One series of a corpus: ``values`` in its stored dtype, ``info`` its json."""

    name: str
    source: str
    values: np.ndarray = field(repr=False)
    info: dict[str, Any] = field(repr=False, compare=False)


def source_key(info: dict[str, Any], name: str = "?") -> str:
    """The source family of a series: the first word of its json ``source`` field."""
    src = info.get("source")
    if not isinstance(src, str) or not src.split():
        raise InputError(f"series {name!r} has no 'source' in its json", name="source",
                         expected="a non-empty string", got=src)
    return src.split()[0]


def list_corpus(directory: str | Path) -> tuple[str, ...]:
    """Names of the series in ``directory`` (each ``NAME.npy`` with a ``NAME.json``), sorted."""
    d = Path(directory)
    if not d.is_dir():
        raise InputError(f"no corpus directory {str(d)!r}", name="directory",
                         expected="a directory of NAME.npy + NAME.json", got=str(d))
    names = tuple(sorted(p.stem for p in d.glob("*.npy") if (d / f"{p.stem}.json").is_file()))
    if not names:
        raise InputError(f"{str(d)!r} holds no NAME.npy with a NAME.json", name="directory",
                         expected="a directory of NAME.npy + NAME.json", got=str(d))
    return names


def load_corpus(directory: str | Path, names: Iterable[str] | None = None
                ) -> list[CorpusSeries]:
    """Every series of ``directory`` (or only ``names``), sorted by name.

    Raises:
        InputError: the directory is missing or empty, a name is not in it, a json has no
            ``source``, or an array is not one-dimensional numbers.
    """
    d = Path(directory)
    have = list_corpus(d)
    wanted = have if names is None else tuple(names)
    missing = sorted(set(wanted) - set(have))
    if missing:
        raise InputError(f"not in {str(d)!r}: {', '.join(missing)}", name="names",
                         expected=have, got=missing)
    out = []
    for name in sorted(set(wanted)):
        info = json.loads((d / f"{name}.json").read_text(encoding="utf-8"))
        x = np.load(d / f"{name}.npy", allow_pickle=False)
        if x.ndim != 1 or x.dtype.kind not in "iuf":
            raise InputError(f"{name}: expected a 1-D numeric array, got {x.dtype} {x.shape}",
                             name=name, expected="1-D int/float", got=f"{x.dtype} {x.shape}")
        out.append(CorpusSeries(name, source_key(info, name), x, info))
    return out


def by_source(series: Iterable[CorpusSeries]) -> dict[str, list[str]]:
    """Source family -> names of its series (both sorted)."""
    groups: dict[str, list[str]] = {}
    for s in series:
        groups.setdefault(s.source, []).append(s.name)
    return {k: sorted(v) for k, v in sorted(groups.items())}
