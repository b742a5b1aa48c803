"""The plumbing of ``edgekit demo``: each subsystem contributes a section.

A section is a module ``edgekit.<subpackage>._demo`` with a function
``run(out: TextIO) -> list[DemoRow]`` that prints its own details and returns the rows of the
summary table.  A section whose optional dependency is missing is reported as skipped, with
the extra that brings it; any other failure is a failure of the demo.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import time
from dataclasses import dataclass
from typing import TextIO

from edgekit.errors import RuntimeUnavailableError

# the order the demo runs them in
SECTIONS: tuple[str, ...] = (
    "compress", "schedule", "infer", "secure", "memory", "aio", "metrics", "update", "twin",
    "federated", "market",
)


@dataclass(frozen=True, slots=True)
class DemoRow:
    """One line of the demo's summary: what ran, edgekit's headline figure, the article's."""

    what: str
    edgekit: str
    article: str = "-"


def _available(section: str) -> bool:
    if importlib.util.find_spec(f"edgekit.{section}") is None:
        return False
    return importlib.util.find_spec(f"edgekit.{section}._demo") is not None


def run(out: TextIO | None = None, sections: tuple[str, ...] | None = None) -> int:
    """Run every available section; print the details and a summary table.  Returns an exit
    status: 0 when every section that ran succeeded."""

    out = out or sys.stdout
    rows: list[DemoRow] = []
    skipped: list[str] = []
    t_start = time.perf_counter()
    for section in sections or SECTIONS:
        if not _available(section):
            continue
        print(f"\n== {section} " + "=" * (60 - len(section)), file=out)
        t0 = time.perf_counter()
        module = importlib.import_module(f"edgekit.{section}._demo")
        try:
            rows.extend(module.run(out))
        except RuntimeUnavailableError as err:
            skipped.append(f"{section}: {err}")
            print(f"  skipped: {err}", file=out)
            continue
        print(f"  ({time.perf_counter() - t0:.2f} s)", file=out)
    _summary(rows, out)
    for line in skipped:
        print(f"skipped {line}", file=out)
    print(f"\ndemo finished in {time.perf_counter() - t_start:.1f} s", file=out)
    return 0


def _summary(rows: list[DemoRow], out: TextIO) -> None:
    if not rows:
        return
    headers = ("what ran", "edgekit", "the article")
    widths = [max(len(h), *(len(getattr(r, f)) for r in rows))
              for h, f in zip(headers, ("what", "edgekit", "article"), strict=True)]
    print("\n== summary " + "=" * 51, file=out)
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line, file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip((r.what, r.edgekit, r.article), widths,
                                                    strict=True)), file=out)
